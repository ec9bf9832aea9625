"""Corpora, ARPA texts and helpers shared by the N-gram tests."""

from rnnkit import cli

# The hand-worked example. Bigram counts with <s> and </s>:
#   <s> b: 4   b </s>: 3   <s> a: 2   a </s>: 2   b b: 1   b c: 1   c </s>: 1   a a: 1
# so the count-of-counts of order 2 are n1 = 4, n2 = 2, n3 = 1, n4 = 1.
HAND_CORPUS = ["b", "b b", "b c", "a a", "b", "a"]

SMALL_CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the cat saw the dog",
    "on the mat the cat sat",
    "a dog sat",
    "the log",
    "cat",
]


def sentences(lines):
    return [line.split() for line in lines]


def write_text(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def cli_result(capsys, *argv):
    """(exit code, stdout, stderr) of ``rnnkit ARGV`` run in this process."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def bad_arpa(tmp_path, text):
    path = tmp_path / "bad.arpa"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


# A model in the style SRILM writes: text before \data\, back-off weights left
# out where they are 0, spaces and tabs, blank lines, an exponent.
SRILM_STYLE = """This is a comment SRILM tools ignore.

\\data\\
ngram  1=5
ngram 2 = 4

\\1-grams:
-0.8\t</s>
-99\t<s>\t-0.3
-0.6 a -0.2
-0.7\tb
-1e0\t<unk>

\\2-grams:
-0.2\t<s> a
-0.4 a b
-0.3\ta </s>
-0.5\tb </s>

\\end\\
"""


GOOD = SRILM_STYLE.split("\\data\\", 1)[1]
GOOD = "\\data\\" + GOOD  # line 1 is \data\
