"""The n-best formats of the field (rnnkit.lm.nbest): each read from a small
file written as its own tools write it, recognised where the file says which,
and written back in its own convention."""

import math

import pytest

from rnnkit.errors import OptionError, RnnkitError
from rnnkit.lm import nbest

TSV = ["utt1\tthe cat sat\t-10.5", "utt1\tthe cat sad\t-10.0", "# a comment", "", "utt2\ta dog\t-3"]
RNNLM = ["utt1 the cat sat", "utt1 the cat sad", "utt2 a dog"]
KALDI = ["utt1-1 the cat sat", "utt1-2 the cat sad", "utt2-1 a dog"]
KALDI_AC = ["utt1-1 230.5", "utt1-2 229.0", "utt2-1 80"]
KALDI_LM = ["utt1-1 12.25", "utt1-2 14.0", "utt2-1 5.5"]
SRILM_PLAIN = ["-120.5 -10.25 3 the cat sat", "-119.8 -11.5 3 <s> the cat sad </s>"]
SRILM_V1 = ["NBestList1.0", "(-12345) the cat sat", "(-12400) the cat sad"]


def test_tsv():
    parsed = nbest.read_nbest_list(TSV, "n.tsv")
    assert parsed.format == "tsv"
    assert parsed.entries() == [("utt1", "the cat sat", -10.5), ("utt1", "the cat sad", -10.0), ("utt2", "a dog", -3.0)]
    assert [h.line for h in parsed.hypotheses] == [1, 2, 5]


def test_rnnlm_first_token_is_the_utterance():
    parsed = nbest.read_nbest_list(RNNLM, "n.txt")
    assert parsed.format == "rnnlm"
    assert parsed.entries() == [("utt1", "the cat sat", None), ("utt1", "the cat sad", None), ("utt2", "a dog", None)]
    assert nbest.rescored_lines(parsed, [-1.5, -2.25, -0.125]) == ["-1.500000", "-2.250000", "-0.125000"]
    assert nbest.best_line(parsed, "utt1", "the cat sat") == "utt1 the cat sat"


def test_kaldi_text_and_cost_files():
    parsed = nbest.read_nbest_list(KALDI, "text", acoustic_costs=KALDI_AC, lm_costs=KALDI_LM)
    assert parsed.format == "kaldi"  # recognised by the cost files that come with it
    assert [h.utt for h in parsed.hypotheses] == ["utt1", "utt1", "utt2"]
    assert [h.key for h in parsed.hypotheses] == ["utt1-1", "utt1-2", "utt2-1"]
    # Costs are -ln p; inside, scores are log10 p (higher is better).
    assert parsed.hypotheses[0].am_score == pytest.approx(-230.5 / math.log(10))
    assert parsed.hypotheses[2].old_lm_score == pytest.approx(-5.5 / math.log(10))
    lines = nbest.rescored_lines(parsed, [-2.0, -3.0, -1.0])
    assert lines[0] == f"utt1-1 {2.0 * math.log(10):.6f}" and lines[2].startswith("utt2-1 2.302585")
    with pytest.raises(RnnkitError, match="line 3: no cost for 'utt2-1'"):
        nbest.read_nbest_list(KALDI, "text", acoustic_costs=KALDI_AC[:2])
    with pytest.raises(RnnkitError, match="expected 'uttid-N words'"):
        nbest.read_nbest_list(RNNLM, "text", format="kaldi")


def test_srilm_plain_form():
    parsed = nbest.read_nbest_list(SRILM_PLAIN, "/lists/utt7.nbest")
    assert parsed.format == "srilm"
    h = parsed.hypotheses[1]
    assert (h.utt, h.text, h.am_score, h.old_lm_score) == ("utt7", "the cat sad", -119.8, -11.5)  # <s> </s> dropped
    # Written back as SRILM's ngram -rescore writes it: the LM score replaced, the file's order kept.
    assert nbest.rescored_lines(parsed, [-9.0, -8.5]) == [
        "-120.500000 -9.000000 3 the cat sat",
        "-119.800000 -8.500000 3 the cat sad",
    ]


def test_srilm_nbestlist_1_0():
    parsed = nbest.read_nbest_list(SRILM_V1, "utt9.txt")
    assert parsed.format == "srilm" and [h.utt for h in parsed.hypotheses] == ["utt9", "utt9"]
    # A bytelog score: log base 1.0001 of p, divided by 1024.
    assert parsed.hypotheses[0].am_score == pytest.approx(-12345 * 1024 * math.log10(1.0001))
    assert nbest.rescored_lines(parsed, [-1.0, -2.0])[1].split()[1:] == ["-2.000000", "3", "the", "cat", "sad"]
    with pytest.raises(RnnkitError, match=r"utt9.txt: line 4: expected '\(score\) words'"):
        nbest.read_nbest_list(SRILM_V1 + ["no score here"], "utt9.txt")


@pytest.mark.parametrize(
    "lines, costs, expected",
    [(TSV, False, "tsv"), (RNNLM, False, "rnnlm"), (KALDI, True, "kaldi"), (KALDI, False, "rnnlm"),
     (SRILM_PLAIN, False, "srilm"), (SRILM_V1, False, "srilm")],
)
def test_detection(lines, costs, expected):
    assert nbest.detect_format(lines, costs) == expected


def test_refusals():
    with pytest.raises(OptionError, match="unknown option 'format' 'xml'"):
        nbest.read_nbest_list(TSV, "n", format="xml")
    with pytest.raises(OptionError, match="cost files go with"):
        nbest.read_nbest_list(TSV, "n", format="tsv", acoustic_costs=KALDI_AC)
    with pytest.raises(RnnkitError, match="no candidates"):
        nbest.read_nbest_list(["# only a comment"], "n", format="tsv")
    with pytest.raises(RnnkitError, match="line 2: expected 'acoustic-score lm-score word-count words'"):
        nbest.read_nbest_list(SRILM_PLAIN[:1] + ["x y z"], "n", format="srilm")
