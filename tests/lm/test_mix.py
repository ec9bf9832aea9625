"""rnnkit eval --mix: the RNN interpolated with an N-gram model, token by token."""

import json

import numpy
import pytest

from rnnkit.cli import main
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.mix import paired_probs, perplexity, tune_lambda
from rnnkit.ngram import NgramModel

TEXT = ["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog", "the dog saw the cat on a mat"] * 6


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("mix")
    (d / "train.txt").write_text("\n".join(TEXT) + "\n")
    (d / "valid.txt").write_text("the cat sat on a log\na dog saw the mat\n")
    assert main(["train", str(d / "train.txt"), "--valid", str(d / "valid.txt"), "--out", str(d / "rnn"),
                 "--hidden", "16", "--epochs", "3", "--batch", "2", "--bptt", "5", "--quiet"]) == 0
    assert main(["ngram", "train", str(d / "train.txt"), "--order", "3", "--out", str(d / "kn3.arpa")]) == 0
    return d


def test_mixture_is_a_token_by_token_interpolation(models):
    rnn = LanguageModel.load(str(models / "rnn"))
    ngram = NgramModel.load(str(models / "kn3.arpa"))
    p_rnn, p_ng = paired_probs(rnn, ngram, str(models / "valid.txt"))
    assert p_rnn.size == p_ng.size == 13  # 11 words and 2 sentence ends
    # each side agrees with its own model's sentence scores
    sents = [["the", "cat", "sat", "on", "a", "log"], ["a", "dog", "saw", "the", "mat"]]
    assert numpy.allclose(numpy.log10(p_ng), numpy.concatenate(ngram.token_log10probs(sents)))
    assert numpy.allclose(numpy.log(p_rnn), numpy.concatenate(rnn.token_logprobs(sents)))
    lam, best = tune_lambda(p_rnn, p_ng)
    assert best <= min(perplexity(p_rnn, p_ng, 0.0), perplexity(p_rnn, p_ng, 1.0)) + 1e-9
    assert abs(best - perplexity(p_rnn, p_ng, lam)) < 1e-12


def test_eval_mix_command(models, capsys):
    args = ["eval", str(models / "rnn"), str(models / "valid.txt"), "--mix", str(models / "kn3.arpa")]
    assert main(args + ["--json", "--tune-lambda", str(models / "valid.txt")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert 0.0 <= r["lambda"] <= 1.0 and r["tokens"] == 13
    assert r["mix_perplexity"] <= min(r["rnn_perplexity"], r["ngram_perplexity"]) + 1e-9
    assert main(args + ["--lambda", "1.0", "--json"]) == 0
    r1 = json.loads(capsys.readouterr().out)
    assert abs(r1["mix_perplexity"] - r1["rnn_perplexity"]) < 1e-9


def test_mix_errors(models, tmp_path, capsys):
    args = ["eval", str(models / "rnn"), str(models / "valid.txt")]
    assert main(args + ["--mix", str(models / "kn3.arpa"), "--lambda", "1.5"]) == 2
    assert main(args + ["--tune-lambda", str(models / "valid.txt")]) == 2
    (tmp_path / "other.txt").write_text("zebra cat\n" * 5)
    assert main(["ngram", "train", str(tmp_path / "other.txt"), "--order", "2", "--out", str(tmp_path / "o.arpa")]) == 0
    (tmp_path / "t.txt").write_text("zebra cat\n")
    assert main(["eval", str(models / "rnn"), str(tmp_path / "t.txt"), "--mix", str(tmp_path / "o.arpa")]) == 1
    err = capsys.readouterr().err
    assert "'zebra' is known only to the N-gram model" in err and "Traceback" not in err


def test_nbest_rescoring_with_the_mixture(models, tmp_path, capsys):
    nbest = tmp_path / "nbest.tsv"
    nbest.write_text("u1\tthe cat sat on the mat\t-3.0\nu1\tthe mat sat on the cat\t-2.9\n"
                     "u2\ta dog saw a cat\t-1\nu2\tdog a saw cat a\t-1\n")
    base = ["score", str(models / "rnn"), str(nbest), "--nbest", "--json"]
    assert main(base) == 0
    plain = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(base + ["--mix", str(models / "kn3.arpa"), "--lambda", "1.0"]) == 0
    as_rnn = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for a, b in zip(plain, as_rnn):  # λ = 1: the mixture is the RNN
        for ca, cb in zip(a["candidates"], b["candidates"]):
            assert ca["text"] == cb["text"] and abs(ca["lm_logprob"] - cb["lm_logprob"]) < 1e-6
    assert main(base + ["--mix", str(models / "kn3.arpa"), "--lambda", "0.0"]) == 0
    as_ngram = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ngram = NgramModel.load(str(models / "kn3.arpa"))
    for utt in as_ngram:
        for c in utt["candidates"]:
            expected = float(ngram.token_log10probs([c["text"].split()])[0].sum())
            assert abs(c["lm_logprob"] - expected) < 1e-9
    # a scrambled sentence loses to the real one under the mixture too
    assert main(base + ["--mix", str(models / "kn3.arpa")]) == 0
    mixed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert mixed[1]["candidates"][0]["text"] == "a dog saw a cat"
    assert main(["score", str(models / "rnn"), str(nbest), "--mix", str(models / "kn3.arpa")]) == 2
