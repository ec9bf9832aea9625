"""Bad ARPA files and n-best lists, generated: each reads or gets one line of RnnkitError."""

import gzip

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_helpers import SETTINGS, loads_or_one_line_error, ngram_file_loads_or_one_line_error  # noqa: E402

from rnnkit.errors import RnnkitError  # noqa: E402

FUZZ = settings(**SETTINGS, suppress_health_check=[HealthCheck.too_slow])

# The pieces ARPA files are made of, and odd ones: huge counts, orders, line breaks of every kind.
ARPA_PIECES = ["\\data\\", "ngram 1=3", "ngram 2=2", "ngram 3=1", "ngram 1=999999999999", "ngram 9=1",
               "ngram 1=-1", "\\1-grams:", "\\2-grams:", "\\3-grams:", "\\9-grams:", "\\end\\", "-1.0\t<s>\t-0.5",
               "-0.7\t</s>", "-0.9\t<unk>", "-0.3\tthe\t-0.2", "-0.4\t<s> the\t-0.1", "-0.2\tthe </s>",
               "-0.1\t<s> the </s>", "nan\tx", "inf\ty", "-1e400\tz", "1.0\tw", "-0.5", "\t", "", "a b c",
               "\u2028", "\x0c", "\r", "-0.3\tthe\t-0.2\textra", "-1e308\tq", "-0.3\tthe\t1e300",
               "-0.2\t<s> the\t-1e308", "-inf\tthe </s>"]
GOOD = "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1.0\t<s>\t-0.5\n-0.7\t</s>\n-0.3\tthe\t-0.2\n\n" \
       "\\2-grams:\n-0.2\t<s> the\n\n\\end\\\n"

arpa_text = st.one_of(
    st.lists(st.sampled_from(ARPA_PIECES), max_size=30).map("\n".join),
    st.tuples(st.integers(0, len(GOOD)), st.sampled_from(ARPA_PIECES)).map(
        lambda cut: GOOD[: cut[0]] + cut[1] + "\n" + GOOD[cut[0]:]),
    st.text(max_size=200),
)


def _read_arpa(data, name):
    from rnnkit.ngram import NgramModel

    result = ngram_file_loads_or_one_line_error(data, name)
    assert isinstance(result, (NgramModel, RnnkitError))
    return result


def test_the_well_formed_file_reads():
    from rnnkit.ngram import NgramModel

    assert isinstance(_read_arpa(GOOD.encode(), "good.arpa"), NgramModel)


@FUZZ
@given(text=arpa_text)
def test_arpa_text(text):
    _read_arpa(text.encode("utf-8", "surrogatepass"), "m.arpa")


@FUZZ
@given(text=arpa_text, cut=st.integers(0, 400), flip=st.integers(0, 400))
def test_arpa_gzip(text, cut, flip):
    data = bytearray(gzip.compress(text.encode("utf-8", "surrogatepass")))
    if flip < len(data):
        data[flip] ^= 0xA5
    _read_arpa(bytes(data[:cut] if cut < len(data) else data), "m.arpa.gz")


@FUZZ
@given(data=st.binary(max_size=300))
def test_arpa_bytes(data):
    _read_arpa(data, "m.arpa")


NBEST_FIELDS = st.sampled_from(["u1", "u2", "", " ", "the cat", "a\u2028b", "x\x0cy", "-1.5", "nan", "inf", "1e999",
                                "#", "NBestList1.0", "(-12.3)", "3", "-0.5", "word", "\u0085"])
nbest_lines = st.lists(st.lists(NBEST_FIELDS, max_size=5).map(lambda fs: "\t".join(fs) if fs and fs[0] != "#" else
                                                              " ".join(fs)), max_size=12)


@FUZZ
@given(lines=nbest_lines, fmt=st.sampled_from(["auto", "tsv", "rnnlm", "srilm", "kaldi"]))
def test_nbest_lists(lines, fmt):
    from rnnkit.lm.nbest import read_nbest_list
    from rnnkit.lm.score import read_nbest
    from rnnkit.lm.tokenize import split_lines

    lines = split_lines("\n".join(lines))
    loads_or_one_line_error(lambda: read_nbest(lines, "nbest.txt"))
    loads_or_one_line_error(lambda: read_nbest_list(lines, "nbest.txt", format=fmt))


@FUZZ
@given(lines=nbest_lines)
def test_nbest_candidates_are_never_split(lines):
    """However odd the text, each tsv line is at most one candidate (no invented utterances)."""
    from rnnkit.errors import RnnkitError
    from rnnkit.lm.score import read_nbest
    from rnnkit.lm.tokenize import split_lines

    text = "\n".join(lines)
    try:
        entries = read_nbest(split_lines(text), "nbest.txt")
    except RnnkitError:
        return
    assert len(entries) <= text.count("\n") + 1
