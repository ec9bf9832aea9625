"""The API's typed results: every field a front end needs, the commands' --json, the old plain-data faces."""

import json
import pickle

import pytest

import rnnkit
from rnnkit.errors import OptionError
from rnnkit.lm.results import Candidate, Filling, FillResult, Generation, NbestResult, Prediction, SentenceScore


def test_results_read_like_the_plain_data_they_replace():
    p = Prediction("the big", ["the", "big"], [], [("cat", 0.6), ("dog", 0.3)])
    assert list(p) == [("cat", 0.6), ("dog", 0.3)] and len(p) == 2 and p[0] == ("cat", 0.6)
    assert dict(p) == {"cat": 0.6, "dog": 0.3}
    s = SentenceScore(line=1, text="a", tokens=2, oov=0, logprob=-1.5, ppl=10 ** 0.75)
    assert s["logprob"] == -1.5 and set(s) == {"line", "text", "tokens", "oov", "logprob", "ppl", "unk_targets", "logprob_without_unk"} and "ppl" in s
    with pytest.raises(KeyError):
        s["log10prob"]
    n = NbestResult("u1", [Candidate("a b", -2.0, None, -2.0, 1)])
    utt, cands = n
    assert utt == "u1" and cands[0]["text"] == "a b" and n.best.text == "a b"
    tokens, prob = Filling(["a", "b"], "a b", 0.25)
    assert tokens == ["a", "b"] and prob == 0.25


def test_to_json_is_the_commands_json():
    p = Prediction("the", ["the"], [], [("cat", 0.5)])
    assert json.dumps(p.to_json()) == (
        '{"prefix": "the", "tokens": ["the"], "unknown": [], "predictions": [{"token": "cat", "probability": 0.5}]}')
    n = NbestResult("u", [Candidate("a", -1.0, -2.0, -3.0, 1)])
    assert json.dumps(n.to_json()) == ('{"utt": "u", "candidates": [{"text": "a", "lm_logprob": -1.0, '
                                       '"am_score": -2.0, "combined": -3.0, "rank": 1}]}')
    one = FillResult("a __ c", ["a", "__", "c"], [1], [], "exact", [Filling(["b"], "b", 0.5)])
    several = FillResult("a __2__", ["a", "__", "__"], [1, 2], [], "pseudo-likelihood", [Filling(["b", "c"], "b c", 0.1)])
    assert one.to_json()["predictions"] == [{"tokens": ["b"], "text": "b", "probability": 0.5}]
    assert several.to_json()["predictions"] == [{"tokens": ["b", "c"], "text": "b c", "pseudo_likelihood": 0.1}]
    assert several.to_json()["blank_tokens"] == 2 and several.shown == ["a", "__2__"] and one.shown == ["a", "____", "c"]


def test_generation_is_its_text_and_remembers_its_seed(trained_model):
    lm = rnnkit.LanguageModel.load(str(trained_model[0]))
    g = lm.generate("the", max_tokens=8)  # no seed asked: one is drawn and kept
    assert isinstance(g, str) and isinstance(g, Generation) and g == g.text and g.seed is not None
    again = lm.generate("the", max_tokens=8, seed=g.seed)
    assert again == g and again.tokens == g.tokens and len(g.tokens) == 8
    assert g.text.startswith("the ") and g.to_json()["seed"] == g.seed
    back = pickle.loads(pickle.dumps(g))  # results cross process boundaries (workers, servers)
    assert back == g and back.seed == g.seed and back.tokens == g.tokens


def test_api_results_carry_what_the_commands_print(trained_model, tmp_path):
    lm = rnnkit.load(str(trained_model[0]))
    assert isinstance(lm, rnnkit.LanguageModel)
    p = lm.predict("the zebra", top=3)
    assert p.tokens == ["the", "zebra"] and p.unknown == ["zebra"] and len(p.predictions) == 3
    e = lm.evaluate(str(trained_model[2]))
    assert e.file == str(trained_model[2]) and e["perplexity"] == e.perplexity and e.to_json()["file"] == e.file
    rows = lm.score(["the cat sat", "a dog"])
    assert [r.line for r in rows] == [1, 2] and rows[0].tokens == 4
    assert pickle.loads(pickle.dumps(rows[0])) == rows[0]


@pytest.mark.parametrize("call, option", [
    (lambda lm: lm.predict("the", top=0), "top"),
    (lambda lm: lm.generate("the", max_tokens=0), "max_tokens"),
    (lambda lm: lm.generate("the", temperature=-1), "temperature"),
    (lambda lm: lm.generate("the", top_k=0), "top_k"),
    (lambda lm: lm.rescore_nbest(["u\ta"], lm_weight=float("inf")), "lm_weight"),
])
def test_bad_arguments_name_the_keyword_not_a_flag(trained_model, call, option):
    lm = rnnkit.LanguageModel.load(str(trained_model[0]))
    with pytest.raises(OptionError) as exc:
        call(lm)
    assert exc.value.option == option and "--" not in str(exc.value) and str(exc.value).startswith(f"option {option!r}")
