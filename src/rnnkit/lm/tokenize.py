"""Reading text files and cutting lines into tokens.

Three tokenizers, chosen by name everywhere (the RNN and the N-gram models must
agree, so both take them from here):

- ``word``: whitespace-separated words (English, or text already segmented);
- ``char``: every non-space character is a token (Chinese without segmentation);
- ``jieba``: Chinese words cut by the jieba package (``pip install rnnkit[zh]``).
"""

import os

from rnnkit.errors import OptionError, RnnkitError

def _word(line):
    return line.split()


def _char(line):
    return [ch for ch in line if not ch.isspace()]


_jieba = None


def _jieba_cut(line):
    global _jieba
    if _jieba is None:
        try:
            import jieba
        except ImportError:
            raise RnnkitError(
                "{tokenizer} jieba needs the jieba package: pip install 'rnnkit[zh]' (or pip install jieba)",
                "tokenizer",
            ) from None
        jieba.setLogLevel(60)  # jieba prints its dictionary loading to stderr otherwise
        _jieba = jieba
    return [w for w in _jieba.lcut(line) if not w.isspace() and w]


# The one registry of tokenizers: name -> function line -> list of tokens.
TOKENIZERS = {"word": _word, "char": _char, "jieba": _jieba_cut}


def get_tokenizer(name):
    """A function ``line -> list[str]`` for the tokenizer called ``name``."""
    if name not in TOKENIZERS:
        raise OptionError(f"{{tokenizer}} {name!r}: expected one of {', '.join(TOKENIZERS)}", "tokenizer")
    return TOKENIZERS[name]


def read_lines(path):
    """The lines of a UTF-8 text file, without their line ends.

    Raises RnnkitError naming the file, the line and the byte offset for a
    missing file or invalid UTF-8, instead of a UnicodeDecodeError from deep inside.
    """
    if path == "-":
        import sys

        data = sys.stdin.buffer.read()
        path = "<stdin>"
    else:
        if not os.path.exists(path):
            raise RnnkitError(f"{path}: no such file")
        if os.path.isdir(path):
            raise RnnkitError(f"{path}: is a directory, expected a text file")
        with open(path, "rb") as f:
            data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise RnnkitError(f"{path}: line {line_no}: invalid UTF-8 at byte offset {exc.start}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return split_lines(text)


def split_lines(text):
    """The lines of ``text``: a line ends at \\n or \\r\\n, nowhere else; the one rule
    every reader cuts decoded text by (read_lines, rnnkit prepare's chunks, the API's strings).

    Not str.splitlines(), which also ends a line at U+2028, U+0085, form feed
    and the like: an n-best candidate holding one of those would become a new,
    invented line. A final line end does not start another (empty) line.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


lines_of = split_lines  # the name rnnkit prepare knows it by


def tokenize_lines(lines, tokenizer):
    """Token lists of the non-empty lines, cut by the tokenizer called ``tokenizer``."""
    cut = get_tokenizer(tokenizer)
    out = []
    for line in lines:
        tokens = cut(line)
        if tokens:
            out.append(tokens)
    return out
