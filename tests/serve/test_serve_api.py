"""Every endpoint answers what the command line prints for the same input (its --json output)."""

import json

import pytest

from rnnkit.cli import main

ARTICLE_PREFIX = "我昨天上学迟到了，老师批评了"
SENTENCES = ["我昨天上学迟到了，老师批评了我。", "她今天来得很早。", "我的手机坏了", "ｘ未知字"]


def cli_json(capsys, argv):
    """The JSON lines `rnnkit ARGV` prints, parsed."""
    capsys.readouterr()
    assert main(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def close(a, b, rel=1e-9):
    return a == pytest.approx(b, rel=rel, abs=1e-12)


def test_health_and_models_list_what_was_loaded(client, served_models):
    health = client.get("/health").json()
    assert health["status"] == "ok"
    listed = client.get("/v1/models").json()
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == ["zh", "en", "zh-cloze", "zh3.arpa"]
    assert health["models"] == listed["data"]
    by_id = {m["id"]: m for m in listed["data"]}
    assert [by_id[i]["kind"] for i in ("zh", "en", "zh-cloze", "zh3.arpa")] == ["lm", "lm", "cloze", "ngram"]
    assert by_id["zh"]["tokenizer"] == "char" and by_id["en"]["tokenizer"] == "word"
    from rnnkit import LanguageModel

    lm = LanguageModel.load(served_models["zh"])
    assert by_id["zh"]["vocab_size"] == len(lm.vocab)
    assert by_id["zh"]["architecture"]["hidden"] == 32
    assert by_id["zh"]["training"]["valid_ppl"] == lm.config["training"]["valid_ppl"]
    assert by_id["zh3.arpa"]["architecture"]["order"] == 3 and by_id["zh3.arpa"]["training"]["sentences"] == 180
    # the server's own paths are not told to clients
    text = json.dumps(listed)
    assert served_models["zh"] not in text and "corpus" not in by_id["zh"]["training"]


@pytest.mark.parametrize("model, prefix", [("zh", ARTICLE_PREFIX), ("en", "the teacher criticized"),
                                           ("en", "the zebra criticized"), ("zh", "")])
def test_predict_equals_the_command(client, served_models, capsys, model, prefix):
    r = client.post("/v1/predict", json={"model": model, "prefix": prefix, "top": 7})
    assert r.status_code == 200
    got = r.json()
    [want] = cli_json(capsys, ["predict", served_models[model], prefix, "--top", "7", "--json"])
    assert (got["model"], got["kind"], got["prefix"]) == (model, "lm", prefix)
    assert got["tokens"] == want["tokens"] and got["unknown"] == want["unknown"]
    assert [p["token"] for p in got["predictions"]] == [p["token"] for p in want["predictions"]]
    for g, w in zip(got["predictions"], want["predictions"]):
        assert close(g["probability"], w["probability"])
    if "zebra" in prefix:
        assert got["unknown"] == ["zebra"]


def test_ngram_predict_equals_the_command(client, served_models, capsys):
    got = client.post("/v1/predict", json={"model": "zh3.arpa", "prefix": ARTICLE_PREFIX, "top": 5}).json()
    [want] = cli_json(capsys, ["ngram", "predict", served_models["zh3.arpa"], ARTICLE_PREFIX, "--top", "5", "--json"])
    assert got["kind"] == "ngram"
    assert got["tokens"] == want["context"] and got["unknown"] == want["out_of_vocabulary"]
    assert got["predictions"] == want["predictions"]


def test_default_model_is_the_first_of_the_kind(client):
    assert client.post("/v1/predict", json={"prefix": "我"}).json()["model"] == "zh"
    assert client.post("/v1/fill", json={"text": "我__"}).json()["model"] == "zh-cloze"


def test_score_equals_the_command(client, served_models, capsys, tmp_path):
    r = client.post("/v1/score", json={"model": "zh", "sentences": SENTENCES})
    assert r.status_code == 200
    got = r.json()
    path = tmp_path / "s.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    want = cli_json(capsys, ["score", served_models["zh"], str(path), "--json"])
    assert len(got["results"]) == len(want) == len(SENTENCES)
    for g, w in zip(got["results"], want):
        assert {k: g[k] for k in ("line", "text", "tokens", "oov")} == {k: w[k] for k in ("line", "text", "tokens", "oov")}
        assert close(g["logprob"], w["logprob"], 1e-6) and close(g["ppl"], w["ppl"], 1e-6)
        assert "words" not in g
    assert got["results"][3]["oov"] > 0
    total = got["total"]
    assert total["sentences"] == 4 and total["tokens"] == sum(w["tokens"] for w in want)
    assert close(total["logprob"], sum(w["logprob"] for w in want), 1e-6)
    assert close(total["ppl"], 10 ** (-total["logprob"] / total["tokens"]))


def test_score_per_word_adds_up_to_the_sentence(client):
    got = client.post("/v1/score", json={"model": "en", "sentences": ["the teacher criticized me ."],
                                         "per_word": True}).json()
    [row] = got["results"]
    assert [w["token"] for w in row["words"]] == ["the", "teacher", "criticized", "me", ".", "<eos>"]
    assert len(row["words"]) == row["tokens"]
    assert close(sum(w["logprob"] for w in row["words"]), row["logprob"], 1e-6)


NBEST = [
    {"utt": "u1", "candidates": [{"text": "老师批评了吗", "am_score": -2.5}, {"text": "老师批评了我", "am_score": -3.0},
                                 {"text": "老是批评了我", "am_score": -2.0}]},
    {"utt": "u2", "candidates": [{"text": "我的手机坏了", "am_score": -1.0}, {"text": "我的手鸡坏了", "am_score": -0.5}]},
]


def _nbest_file(tmp_path):
    path = tmp_path / "nbest.txt"
    path.write_text("".join(f"{u['utt']}\t{c['text']}\t{c['am_score']}\n" for u in NBEST for c in u["candidates"]),
                    encoding="utf-8")
    return str(path)


def _same_ranking(got, want):
    assert [u["utt"] for u in got] == [u["utt"] for u in want]
    for g, w in zip(got, want):
        assert [c["text"] for c in g["candidates"]] == [c["text"] for c in w["candidates"]]
        for gc, wc in zip(g["candidates"], w["candidates"]):
            assert gc["rank"] == wc["rank"] and gc["am_score"] == wc["am_score"]
            assert close(gc["lm_logprob"], wc["lm_logprob"], 1e-6) and close(gc["combined"], wc["combined"], 1e-6)


def test_rescore_equals_the_command(client, served_models, capsys, tmp_path):
    body = {"model": "zh", "nbest": NBEST, "lm_weight": 0.7, "am_weight": 1.3}
    got = client.post("/v1/rescore", json=body).json()
    want = cli_json(capsys, ["score", served_models["zh"], _nbest_file(tmp_path), "--nbest", "--json",
                             "--lm-weight", "0.7", "--am-weight", "1.3"])
    _same_ranking(got["results"], want)


def test_rescore_mixed_with_the_ngram_equals_the_command(client, served_models, capsys, tmp_path):
    body = {"model": "zh", "nbest": NBEST, "mix": {"lambda": 0.3}}
    got = client.post("/v1/rescore", json=body).json()
    want = cli_json(capsys, ["score", served_models["zh"], _nbest_file(tmp_path), "--nbest", "--json",
                             "--mix", served_models["zh3.arpa"], "--lambda", "0.3"])
    _same_ranking(got["results"], want)
    plain = client.post("/v1/rescore", json={"model": "zh", "nbest": NBEST}).json()
    assert plain["results"][0]["candidates"][0]["lm_logprob"] != got["results"][0]["candidates"][0]["lm_logprob"]


def test_mixed_rescoring_reads_no_file_per_request(client, monkeypatch):
    """The N-gram model is loaded once, at start: a mixed request reads no N-gram file."""
    from rnnkit.ngram import NgramModel

    body = {"model": "zh", "nbest": NBEST, "mix": {"lambda": 0.3}}
    before = client.post("/v1/rescore", json=body).json()

    def no_reading(*args, **kwargs):
        raise AssertionError("an N-gram file was read for a request")

    monkeypatch.setattr(NgramModel, "load", no_reading)
    r = client.post("/v1/rescore", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == before


@pytest.mark.parametrize("text", ["我的手机坏了，我打算__一部新手机。", "我的手机坏了，我打算__2__新手机。"])
def test_fill_equals_the_command(client, served_models, capsys, text):
    got = client.post("/v1/fill", json={"text": text, "top": 4, "beam": 6}).json()
    [want] = cli_json(capsys, ["fill", served_models["zh-cloze"], text, "--top", "4", "--beam", "6", "--json"])
    key = "probability" if want["scoring"] == "exact" else "pseudo_likelihood"
    assert got["scoring"] == want["scoring"] and got["blank_tokens"] == want["blank_tokens"]
    assert got["tokens"] == want["tokens"] and got["unknown"] == want["unknown"]
    assert [p["tokens"] for p in got["predictions"]] == [p["tokens"] for p in want["predictions"]]
    for g, w in zip(got["predictions"], want["predictions"]):
        assert g["text"] == w["text"] and close(g[key], w[key])
        assert set(g) == set(w)  # only the one score the scoring gives


@pytest.mark.parametrize("model, prefix, options", [("zh", "我", {"temperature": 0.8}),
                                                    ("en", "the teacher", {"top_k": 5}),
                                                    ("en", "the", {"top_p": 0.8, "temperature": 1.2}),
                                                    ("zh", "", {"temperature": 0})])
def test_generate_equals_the_command(client, served_models, capsys, model, prefix, options):
    body = {"model": model, "prefix": prefix, "max_tokens": 15, "seed": 11, **options}
    got = client.post("/v1/generate", json=body).json()
    argv = ["generate", served_models[model], "--prefix", prefix, "--max-tokens", "15", "--seed", "11"]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    capsys.readouterr()
    assert main(argv) == 0
    assert got["generated_text"] + "\n" == capsys.readouterr().out
    assert len(got["tokens"]) == 15 and got["seed"] == 11


def test_generate_without_a_seed_tells_the_seed_it_used(client):
    a = client.post("/v1/generate", json={"model": "en", "prefix": "the", "max_tokens": 20}).json()
    b = client.post("/v1/generate", json={"model": "en", "prefix": "the", "max_tokens": 20, "seed": a["seed"]}).json()
    assert a["generated_text"] == b["generated_text"]


def _events(response):
    return [json.loads(block[len("data: "):]) for block in response.text.split("\n\n") if block.startswith("data: ")]


def test_generate_streams_one_event_per_token_then_the_text(client, served_models, capsys):
    body = {"model": "zh", "prefix": "老师", "max_tokens": 12, "seed": 4, "temperature": 0.9, "stream": True}
    with client.stream("POST", "/v1/generate", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        r.read()
    events = _events(r)
    assert len(events) == 13
    tokens = [e["token"]["text"] for e in events[:-1]]
    assert [e["index"] for e in events] == list(range(13))
    assert all(e["generated_text"] is None for e in events[:-1])
    final = events[-1]
    assert final["token"] is None and final["details"]["generated_tokens"] == 12 and final["details"]["seed"] == 4
    plain = client.post("/v1/generate", json={**body, "stream": False}).json()
    assert final["generated_text"] == plain["generated_text"] == events[-2]["text"]
    assert tokens == plain["tokens"]
    capsys.readouterr()
    main(["generate", served_models["zh"], "--prefix", "老师", "--max-tokens", "12", "--seed", "4",
          "--temperature", "0.9"])
    assert capsys.readouterr().out == final["generated_text"] + "\n"
