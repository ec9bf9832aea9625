"""`rnnkit eval --mix` and `rnnkit score --nbest --mix`: the RNN interpolated with an N-gram model."""

import json

from rnnkit.cli import main
from rnnkit.ngram import NgramModel


def test_eval_mix_command(mix_models, capsys):
    models = mix_models
    args = ["eval", str(models / "rnn"), str(models / "valid.txt"), "--mix", str(models / "kn3.arpa")]
    assert main(args + ["--json", "--tune-lambda", str(models / "valid.txt")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert 0.0 <= r["lambda"] <= 1.0 and r["tokens"] == 13
    assert r["mix_perplexity"] <= min(r["rnn_perplexity"], r["ngram_perplexity"]) + 1e-9
    assert main(args + ["--lambda", "1.0", "--json"]) == 0
    r1 = json.loads(capsys.readouterr().out)
    assert abs(r1["mix_perplexity"] - r1["rnn_perplexity"]) < 1e-9


def test_mix_errors(mix_models, tmp_path, capsys):
    models = mix_models
    args = ["eval", str(models / "rnn"), str(models / "valid.txt")]
    assert main(args + ["--mix", str(models / "kn3.arpa"), "--lambda", "1.5"]) == 2
    assert main(args + ["--tune-lambda", str(models / "valid.txt")]) == 2
    (tmp_path / "other.txt").write_text("zebra cat\n" * 5)
    assert main(["ngram", "train", str(tmp_path / "other.txt"), "--order", "2", "--out", str(tmp_path / "o.arpa")]) == 0
    (tmp_path / "t.txt").write_text("zebra cat\n")
    assert main(["eval", str(models / "rnn"), str(tmp_path / "t.txt"), "--mix", str(tmp_path / "o.arpa")]) == 1
    err = capsys.readouterr().err
    assert "'zebra' is known only to the N-gram model" in err and "Traceback" not in err


def test_nbest_rescoring_with_the_mixture(mix_models, tmp_path, capsys):
    models = mix_models
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
