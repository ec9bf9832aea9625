"""Every error is a JSON answer with the right status, and the server goes on serving after it."""

import json
import sys
import threading

import httpx
import pytest

from rnnkit.serve import limits as L
from rnnkit.serve.limits import Limits


def error_of(r, status, kind):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == status and error["type"] == kind and error["message"]
    return error


@pytest.mark.parametrize("path, body, where", [
    ("/v1/predict", {"prefix": "我" * (L.MAX_PREFIX_CHARS + 1)}, "prefix"),
    ("/v1/predict", {"prefix": "我", "top": L.MAX_TOP + 1}, "top"),
    ("/v1/predict", {"prefix": "我", "top": 0}, "top"),
    ("/v1/predict", {"prefix": 3}, "prefix"),
    ("/v1/predict", {"prefix": "我", "temperature": 1}, "temperature"),  # not an option of predict
    ("/v1/score", {"sentences": ["我"] * (L.MAX_SENTENCES + 1)}, "sentences"),
    ("/v1/score", {"sentences": ["我" * (L.MAX_SENTENCE_CHARS + 1)]}, "sentences"),
    ("/v1/score", {"sentences": []}, "sentences"),
    ("/v1/score", {}, "sentences"),
    ("/v1/rescore", {"nbest": [{"utt": "u", "candidates": [{"text": "我"}] * (L.MAX_NBEST_CANDIDATES + 1)}]},
     "candidates"),
    ("/v1/rescore", {"nbest": [{"utt": "u", "candidates": [{"text": "a\tb"}]}]}, "text"),
    ("/v1/rescore", {"nbest": [{"utt": "#u", "candidates": [{"text": "我"}]}]}, "utt"),
    ("/v1/rescore", {"nbest": [{"utt": "u", "candidates": [{"text": "我"}]}], "mix": {"lambda": 1.5}}, "lambda"),
    ("/v1/fill", {"text": "我__", "beam": L.MAX_BEAM + 1}, "beam"),
    ("/v1/generate", {"max_tokens": L.MAX_TOKENS + 1}, "max_tokens"),
    ("/v1/generate", {"max_tokens": 0}, "max_tokens"),
    ("/v1/generate", {"temperature": -1}, "temperature"),
    ("/v1/generate", {"seed": -1}, "seed"),
    ("/v1/generate", {"top_k": 0}, "top_k"),
])
def test_a_capped_or_malformed_field_is_a_422_naming_it(client, path, body, where):
    error = error_of(client.post(path, json=body), 422, "invalid_request")
    assert where in error["message"]
    assert any(where in map(str, d["loc"]) for d in error["details"])


def test_too_many_candidates_over_all_utterances_is_a_422(client):
    utts = [{"utt": f"u{i}", "candidates": [{"text": "我"}] * 100} for i in range(L.MAX_NBEST_CANDIDATES // 100 + 1)]
    error_of(client.post("/v1/rescore", json={"nbest": utts}), 422, "invalid_input")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_numbers_that_are_not_finite_are_refused(client, literal):
    body = '{"nbest": [{"utt": "u", "candidates": [{"text": "我", "am_score": %s}]}]}' % literal
    r = client.post("/v1/rescore", content=body, headers={"content-type": "application/json"})
    error_of(r, 422, "invalid_request")
    r = client.post("/v1/generate", content='{"temperature": %s}' % literal, headers={"content-type": "application/json"})
    error_of(r, 422, "invalid_request")


def test_a_body_that_is_not_json_is_a_422(client):
    error_of(client.post("/v1/predict", content=b'{"prefix": ', headers={"content-type": "application/json"}),
             422, "invalid_request")
    error_of(client.post("/v1/predict", json=["not", "an", "object"]), 422, "invalid_request")
    error_of(client.post("/v1/predict", content=b'\xff\xfe{"pre', headers={"content-type": "application/json"}),
             422, "invalid_request")
    error = error_of(client.post("/v1/predict", content=b'{"prefix": "x"}'), 422, "invalid_request")
    assert "application/json" in error["message"]


def test_a_body_over_the_cap_is_a_413(make_client):
    client = make_client(Limits(max_body_bytes=1000))
    error_of(client.post("/v1/score", json={"sentences": ["我" * 400]}), 413, "too_large")

    def chunks():  # no content-length: counted as it comes
        for _ in range(20):
            yield b" " * 100

    error_of(client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"}),
             413, "too_large")
    assert client.post("/v1/score", json={"sentences": ["我"]}).status_code == 200


def test_unknown_model_path_and_method(client, served_models):
    error_of(client.post("/v1/predict", json={"model": "nope", "prefix": "我"}), 404, "model_not_found")
    error_of(client.get("/v1/nothing"), 404, "not_found")
    error_of(client.get("/static/../../etc/passwd"), 404, "not_found")
    error_of(client.get("/v1/predict"), 405, "method_not_allowed")


@pytest.mark.parametrize("path, body", [
    ("/v1/fill", {"model": "zh", "text": "我__"}),            # a language model cannot fill
    ("/v1/predict", {"model": "zh-cloze", "prefix": "我"}),   # a cloze model does not predict left to right
    ("/v1/score", {"model": "zh3.arpa", "sentences": ["我"]}),
    ("/v1/predict", {"model": "zh", "prefix": "xyz"}),        # every token unknown: nothing to predict from
    ("/v1/generate", {"model": "zh", "prefix": "xyz", "stream": True}),
    ("/v1/fill", {"text": "没有空格"}),                        # no blank
    ("/v1/rescore", {"nbest": [{"utt": "u", "candidates": [{"text": "我", "am_score": 1}, {"text": "他"}]}]}),
    ("/v1/rescore", {"model": "en", "nbest": [{"utt": "u", "candidates": [{"text": "the"}]}], "mix": {}}),
])
def test_input_the_model_cannot_take_is_a_422(client, path, body):
    error_of(client.post(path, json=body), 422, "invalid_input")


def test_an_exception_is_a_500_json_and_the_server_goes_on(make_client, engine, monkeypatch):
    client = make_client(raise_server_exceptions=False)
    calls = []

    def broken(entry, prefix, top):
        calls.append(prefix)
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(engine, "predict", broken)
    error = error_of(client.post("/v1/predict", json={"prefix": "我"}), 500, "internal_error")
    assert "ZeroDivisionError" in error["message"] and calls == ["我"]
    monkeypatch.undo()
    assert client.post("/v1/predict", json={"prefix": "我"}).status_code == 200


def test_an_error_while_streaming_ends_the_stream_with_an_error_event(make_client, engine, monkeypatch):
    client = make_client(raise_server_exceptions=False)

    class BreaksAfterOne:  # a Sampler whose second step fails
        prefix_tokens, drawn = [], 0

        def step(self):
            self.drawn += 1
            if self.drawn > 1:
                raise RuntimeError("lost the model")
            return "我"

    monkeypatch.setattr(engine, "sampler", lambda *args: BreaksAfterOne())
    r = client.post("/v1/generate", json={"stream": True})
    assert r.status_code == 200
    blocks = r.text.strip().split("\n\n")
    assert json.loads(blocks[0][len("data: "):])["token"]["text"] == "我"
    assert blocks[-1].startswith("event: error\ndata: ")
    assert json.loads(blocks[-1].split("data: ", 1)[1])["error"]["type"] == "internal_error"
    monkeypatch.undo()
    assert client.post("/v1/generate", json={"max_tokens": 2}).status_code == 200


@pytest.mark.anyio
async def test_work_in_flight_over_the_bound_gets_429_with_retry_after(engine, monkeypatch):
    from rnnkit.serve.app import create_app

    entered, release = threading.Event(), threading.Event()
    real = engine.predict

    def slow(entry, prefix, top):
        entered.set()
        release.wait(10)
        return real(entry, prefix, top)

    monkeypatch.setattr(engine, "predict", slow)
    app = create_app(engine, Limits(max_in_flight=2, retry_after_seconds=3))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        import anyio

        results = []

        async def ask():
            results.append(await client.post("/v1/predict", json={"prefix": "我"}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            tg.start_soon(ask)
            await anyio.to_thread.run_sync(entered.wait, 10)
            busy = await client.post("/v1/predict", json={"prefix": "我"})
            assert busy.status_code == 429 and busy.headers["retry-after"] == "3"
            assert busy.json()["error"]["type"] == "overloaded"
            health = await client.get("/health")  # not /v1/: always answers
            assert health.status_code == 200
            release.set()
        assert [r.status_code for r in results] == [200, 200]
        assert (await client.post("/v1/predict", json={"prefix": "我"})).status_code == 200


def test_cors_is_off_unless_asked(make_client):
    headers = {"origin": "http://elsewhere.test", "access-control-request-method": "POST"}
    off = make_client()
    assert "access-control-allow-origin" not in off.options("/v1/predict", headers=headers).headers
    assert "access-control-allow-origin" not in off.get("/v1/models", headers={"origin": "http://elsewhere.test"}).headers
    on = make_client(cors_origins=["http://elsewhere.test"])
    assert on.options("/v1/predict", headers=headers).headers["access-control-allow-origin"] == "http://elsewhere.test"
    assert "access-control-allow-origin" not in on.get("/v1/models", headers={"origin": "http://other.test"}).headers


def test_no_request_makes_the_server_open_a_path(client, served_models, tmp_path):
    """Paths in every text field: the server answers without opening any file."""
    opened = []
    active = [True]

    def hook(event, args):
        if active[0] and event == "open":
            opened.append(str(args[0]))

    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    sys.addaudithook(hook)  # audit hooks cannot be removed: this one goes quiet after the test
    try:
        paths = [str(secret), served_models["en"], served_models["zh3.arpa"], "../../etc/passwd"]
        for p in paths:
            client.post("/v1/predict", json={"model": p, "prefix": p})
            client.post("/v1/predict", json={"prefix": p})
            client.post("/v1/score", json={"sentences": [p]})
            client.post("/v1/rescore", json={"nbest": [{"utt": "u", "candidates": [{"text": p}]}], "mix": {"ngram": p}})
            client.post("/v1/fill", json={"model": p, "text": p + "__"})
            client.post("/v1/generate", json={"prefix": p, "max_tokens": 2})
            client.get("/static/" + p)
    finally:
        active[0] = False
    assert not [o for o in opened if any(p in o or o.endswith("passwd") or "secret" in o for p in paths)]
