"""Score requests that wait together run as one batch; each still gets its own answer."""

import json
import threading
import time

import anyio
import httpx
import pytest

from rnnkit.serve.batching import ModelWorker


class Recorder:
    """A score function that records its calls and can be held until released."""

    def __init__(self):
        self.calls, self.entered, self.release = [], threading.Event(), threading.Event()
        self.release.set()

    def __call__(self, sentences):
        self.calls.append(list(sentences))
        self.entered.set()
        self.release.wait(10)
        if "bad" in sentences:
            raise ValueError("bad sentence")
        return [f"row of {s}" for s in sentences]


@pytest.mark.anyio
async def test_requests_waiting_together_run_as_one_call():
    worker, fn = ModelWorker(), Recorder()
    fn.release.clear()
    answers = {}

    async def ask(i):
        answers[i] = await worker.score("m", fn, [f"s{i}a", f"s{i}b"])

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, 0)
        await anyio.to_thread.run_sync(fn.entered.wait, 10)  # the first runs alone and holds the thread
        for i in range(1, 9):
            tg.start_soon(ask, i)
        await anyio.sleep(0.05)
        fn.release.set()
    worker.close()
    assert [len(c) for c in fn.calls] == [2, 16]  # the eight that waited: one call
    assert worker.batches == [1, 8]
    assert answers == {i: [f"row of s{i}a", f"row of s{i}b"] for i in range(9)}


@pytest.mark.anyio
async def test_requests_still_being_read_join_the_batch_instead_of_the_first_running_alone():
    # As under load: the clients' requests come back together, each after some turns of the
    # event loop (its body read, checked, cut); the first must not be taken alone.
    worker, fn = ModelWorker(), Recorder()
    answers = {}

    async def ask(i):
        for _ in range(i):
            await anyio.sleep(0)
        answers[i] = await worker.score("m", fn, [f"s{i}"])

    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(ask, i)
    worker.close()
    assert worker.batches == [12]
    assert answers == {i: [f"row of s{i}"] for i in range(12)}


@pytest.mark.anyio
async def test_a_batch_keeps_to_its_key_and_its_size():
    worker, fn = ModelWorker(max_sentences=5), Recorder()
    fn.release.clear()
    answers = {}

    async def ask(i, key, n):
        answers[i] = await worker.score(key, fn, [f"{i}.{j}" for j in range(n)])

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, 0, "a", 1)
        await anyio.to_thread.run_sync(fn.entered.wait, 10)
        for i, key, n in [(1, "a", 2), (2, "b", 1), (3, "a", 2), (4, "a", 2), (5, "b", 3)]:
            tg.start_soon(ask, i, key, n)
        await anyio.sleep(0.05)
        fn.release.set()
    worker.close()
    # a: 1 | 2 + 2 (the next 2 would pass 5) | b: 1 + 3 | a: 2
    assert [len(c) for c in fn.calls] == [1, 4, 4, 2]
    assert all(answers[i] == [f"row of {i}.{j}" for j in range(n)]
               for i, n in [(0, 1), (1, 2), (2, 1), (3, 2), (4, 2), (5, 3)])


@pytest.mark.anyio
async def test_one_bad_request_does_not_fail_the_others_of_its_batch():
    worker, fn = ModelWorker(), Recorder()
    fn.release.clear()
    answers, errors = {}, {}

    async def ask(i, sentences):
        try:
            answers[i] = await worker.score("m", fn, sentences)
        except ValueError as exc:
            errors[i] = str(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, 0, ["first"])
        await anyio.to_thread.run_sync(fn.entered.wait, 10)
        tg.start_soon(ask, 1, ["good"])
        tg.start_soon(ask, 2, ["bad"])
        tg.start_soon(ask, 3, ["fine"])
        await anyio.sleep(0.05)
        fn.release.set()
    worker.close()
    assert answers == {0: ["row of first"], 1: ["row of good"], 3: ["row of fine"]}
    assert errors == {2: "bad sentence"}


@pytest.mark.anyio
async def test_32_concurrent_score_requests_are_batched_and_each_is_right(engine):
    from rnnkit.serve.app import create_app

    app = create_app(engine)
    sentences = [[f"我昨天上学迟到了{'，老师批评了我' * (i % 3)}。", "她今天来得很早。"][: 1 + i % 2] for i in range(32)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        alone = [(await client.post("/v1/score", json={"sentences": s})).json() for s in sentences]
        app.state.worker.batches.clear()
        together = [None] * 32

        async def ask(i):
            together[i] = (await client.post("/v1/score", json={"sentences": sentences[i]})).json()

        async with anyio.create_task_group() as tg:
            for i in range(32):
                tg.start_soon(ask, i)
    app.state.worker.close()  # no model thread left behind (it set BLAS's threads: OpenBLAS remembers)
    assert max(app.state.worker.batches) > 1 and sum(app.state.worker.batches) == 32
    for a, t in zip(alone, together):
        assert [r["line"] for r in t["results"]] == list(range(1, len(t["results"]) + 1))
        assert [r["text"] for r in t["results"]] == [r["text"] for r in a["results"]]
        assert [r["logprob"] for r in t["results"]] == pytest.approx([r["logprob"] for r in a["results"]], rel=1e-6)


async def _stream(app, path, body, chunks):
    """POST ``body`` to the ASGI ``app``, appending each piece of the answer to ``chunks`` as it is sent."""
    data = json.dumps(body).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
             "client": ("127.0.0.1", 1), "server": ("test", 80)}
    messages = [{"type": "http.request", "body": data, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await anyio.sleep_forever()  # the client stays until the answer ends

    async def send(message):
        if message["type"] == "http.response.body" and message.get("body"):
            chunks.append(message["body"])

    await app(scope, receive, send)


@pytest.mark.anyio
async def test_a_score_request_is_answered_while_a_long_generation_streams(engine, monkeypatch):
    """Each token is one job on the model thread: a request that comes meanwhile runs between two tokens."""
    import rnnkit.lm.generate as generate
    from rnnkit.serve.app import create_app

    real = generate.sample_next

    def slow(*args, **kwargs):  # a token every 2 ms at least: 1,000 of them take seconds
        time.sleep(0.002)
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "sample_next", slow)
    app = create_app(engine)
    body = {"model": "zh", "prefix": "我", "max_tokens": 1000, "seed": 7, "stream": True}
    chunks, seen = [], {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

        async def score_meanwhile():
            while len(chunks) < 5:
                await anyio.sleep(0.005)
            started, seen["before"] = time.perf_counter(), len(chunks)
            r = await client.post("/v1/score", json={"model": "zh", "sentences": ["她今天来得很早。"]})
            seen["seconds"], seen["after"], seen["status"] = time.perf_counter() - started, len(chunks), r.status_code

        async with anyio.create_task_group() as tg:
            tg.start_soon(_stream, app, "/v1/generate", body, chunks)
            tg.start_soon(score_meanwhile)
    app.state.worker.close()
    events = [json.loads(c.decode()[len("data: "):]) for c in chunks]
    assert len(events) == 1001 and events[-1]["details"]["generated_tokens"] == 1000
    assert seen["status"] == 200
    # answered while the stream was under way, a few tokens after it was sent, not after the 1,000th
    assert seen["after"] < 1001 - 100, seen
    monkeypatch.undo()
    # and the score between two tokens changed nothing in the text
    assert events[-1]["generated_text"] == engine.models["zh"].model.generate("我", 1000, seed=7)


@pytest.mark.anyio
async def test_the_model_thread_runs_the_model_step_alone_for_score_and_rescore_together(engine, monkeypatch):
    """Text is cut and rows are made off the model thread; on it, one id_logprobs call takes the
    sentences of every request that waited, score and rescore requests alike."""
    import rnnkit.serve.app as app_module
    from rnnkit.serve.app import create_app

    lm = engine.models["en"].model
    threads, calls = {"encode": set(), "rows": set(), "model": set()}, []
    real_encode, real_rows, real_logprobs = engine.encode, engine.score_rows, lm.id_logprobs
    entered, release = threading.Event(), threading.Event()

    def encode(*args):
        threads["encode"].add(threading.current_thread().name)
        return real_encode(*args)

    def rows(*args):
        threads["rows"].add(threading.current_thread().name)
        return real_rows(*args)

    def id_logprobs(id_lists):
        threads["model"].add(threading.current_thread().name)
        calls.append(len(id_lists))
        entered.set()
        release.wait(10)
        return real_logprobs(id_lists)

    monkeypatch.setattr(engine, "encode", encode)
    monkeypatch.setattr(engine, "score_rows", rows)
    monkeypatch.setattr(lm, "id_logprobs", id_logprobs)
    app = create_app(engine)
    nbest = [{"utt": "u", "candidates": [{"text": "the cat sat", "am_score": -1.0},
                                         {"text": "the cat sat on the mat", "am_score": -2.0}]}]
    answers = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

        async def post(name, path, body):
            answers[name] = (await client.post(path, json=body)).json()

        async with anyio.create_task_group() as tg:
            tg.start_soon(post, "first", "/v1/score", {"model": "en", "sentences": ["the dog"]})
            await anyio.to_thread.run_sync(entered.wait, 10)  # it holds the model thread
            tg.start_soon(post, "score", "/v1/score", {"model": "en", "sentences": ["a cat", "the mat"],
                                                       "per_word": True})
            tg.start_soon(post, "rescore", "/v1/rescore", {"model": "en", "nbest": nbest})
            await anyio.sleep(0.05)
            release.set()
        monkeypatch.setattr(app_module, "OFF_LOOP_CHARS", 5)  # a large request: its text work on a helper thread
        release.set()
        big = (await client.post("/v1/score", json={"model": "en", "sentences": ["the cat sat on the mat"]})).json()
        monkeypatch.undo()
        alone = {name: (await client.post(path, json=body)).json() for name, path, body in [
            ("score", "/v1/score", {"model": "en", "sentences": ["a cat", "the mat"], "per_word": True}),
            ("rescore", "/v1/rescore", {"model": "en", "nbest": nbest})]}
    app.state.worker.close()
    assert calls == [1, 4, 1]  # the score's two sentences and the rescore's two candidates: one call
    assert threads["model"] == {"rnnkit-model_0"}
    assert len(threads["encode"]) == 2 and not any(t.startswith("rnnkit-model") for t in threads["encode"])
    assert threads["rows"] == {threading.main_thread().name} and big["results"][0]["tokens"] == 7
    # the same answers as alone, to float32's rounding (a batch's products are of other shapes)
    assert _numbers_close(answers["score"], alone["score"]) and _numbers_close(answers["rescore"], alone["rescore"])
    assert [len(r["words"]) for r in answers["score"]["results"]] == [3, 3]


def _numbers_close(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_numbers_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_numbers_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == pytest.approx(b, rel=1e-6, abs=1e-9)
    return a == b
