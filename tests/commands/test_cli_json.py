"""Every command's --json keeps its keys and their order: the shape front ends and scripts read."""

import json

from lm_helpers import cli

EVAL = ["file", "perplexity", "nats_per_token", "bits_per_token", "tokens", "oov", "oov_rate", "unk_tokens",
        "perplexity_without_unk"]
CLOZE_EVAL = ["file", "task", "perplexity", "nats_per_token", "bits_per_token", "tokens", "top1", "top5", "oov",
              "oov_rate", "lines"]
MIX = ["file", "tokens", "lambda", "rnn_perplexity", "ngram_perplexity", "mix_perplexity"]
# Keys added after the ones above (issue 19: the two figures, several N-gram models), never in their place.
EVAL_ADDED = ["independent", "logprob"]
SCORE_ADDED = ["unk_targets", "logprob_without_unk"]
MIX_ADDED = ["unk_tokens", "rnn_perplexity_without_unk", "ngram_perplexity_without_unk", "mix_perplexity_without_unk",
             "models", "weights", "ngram_perplexities", "ngram_perplexities_without_unk"]
CANDIDATE = ["text", "lm_logprob", "am_score", "combined", "rank"]


def _json(capsys, *argv):
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_eval_predict_score_json_shapes(trained_model, tmp_path, capsys):
    model, _, valid = trained_model
    [r] = _json(capsys, "eval", model, valid, "--json")
    assert list(r) == EVAL + EVAL_ADDED and r["file"] == str(valid)
    [r] = _json(capsys, "predict", model, "the zebra", "--top", 2, "--json")
    assert list(r) == ["prefix", "tokens", "unknown", "predictions"] and r["unknown"] == ["zebra"]
    assert [list(p) for p in r["predictions"]] == [["token", "probability"]] * 2
    text = tmp_path / "s.txt"
    text.write_text("the cat\n\n")
    rows = _json(capsys, "score", model, text, "--json")
    assert [list(r) for r in rows] == [["line", "text", "tokens", "oov", "logprob", "ppl"] + SCORE_ADDED] * 2
    nbest = tmp_path / "nb.tsv"
    nbest.write_text("u\tthe cat\t-1\nu\tcat the\t-2\nv\ta dog\t0\n")
    utts = _json(capsys, "score", model, nbest, "--nbest", "--json")
    assert [list(u) for u in utts] == [["utt", "candidates"]] * 2 and [u["utt"] for u in utts] == ["u", "v"]
    assert all(list(c) == CANDIDATE for u in utts for c in u["candidates"])


def test_cloze_and_mix_json_shapes(cloze_model, mix_models, capsys):
    out, _, _, valid = cloze_model
    [r] = _json(capsys, "eval", out, valid, "--json")
    assert list(r) == CLOZE_EVAL and r["task"] == "cloze"
    [one] = _json(capsys, "fill", out, "the __ sat", "--top", 2, "--json")
    [two] = _json(capsys, "fill", out, "the __2__ sat", "--top", 2, "--json")
    for r in (one, two):
        assert list(r) == ["text", "tokens", "blank_tokens", "unknown", "scoring", "predictions"]
    assert [list(p) for p in one["predictions"]] == [["tokens", "text", "probability"]] * 2
    assert [list(p) for p in two["predictions"]] == [["tokens", "text", "pseudo_likelihood"]] * 2
    rnn, arpa, valid = mix_models / "rnn", mix_models / "kn3.arpa", mix_models / "valid.txt"
    [r] = _json(capsys, "eval", rnn, valid, "--mix", arpa, "--json")
    assert list(r) == MIX + MIX_ADDED
    [r] = _json(capsys, "eval", rnn, valid, "--mix", arpa, "--tune-lambda", valid, "--json")
    assert list(r) == ["tuned_on", "valid_mix_perplexity"] + MIX + MIX_ADDED + ["em_iterations"]
