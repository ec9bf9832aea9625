"""Sentences: the text an N-gram model counts and scores, and the ``<s> w.. </s>`` id stream.

Every sentence w_1 .. w_n is scored as ``<s> w_1 .. w_n </s>``: ``<s>`` is
context only (never predicted), ``</s>`` is predicted like a word. A line
that already starts with ``<s>`` or ends with ``</s>`` keeps them (SRILM does
the same); anywhere else they are an error.
"""

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.lm.tokenize import get_tokenizer, read_lines

BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"


def sentences_from_lines(lines, tokenizer="word", source="<text>"):
    """Token lists of the non-empty lines, and the 1-based line number of each.

    A leading ``<s>`` and a trailing ``</s>`` are dropped (they are implied);
    either token anywhere else is an error naming the line.
    """
    cut = get_tokenizer(tokenizer)
    sentences, line_numbers = [], []
    for number, line in enumerate(lines, 1):
        tokens = cut(line)
        if not tokens:
            continue
        if tokens[0] == BOS:
            tokens = tokens[1:]
        if tokens and tokens[-1] == EOS:
            tokens = tokens[:-1]
        if not tokens:
            continue
        if BOS in tokens or EOS in tokens:
            raise RnnkitError(f"{source}: line {number}: {BOS} may only begin a sentence and {EOS} only end one")
        sentences.append(tokens)
        line_numbers.append(number)
    return sentences, line_numbers


def read_text_lines(path):
    """read_lines, with an unreadable file (permissions, a device error) as a one-line error too."""
    try:
        return read_lines(path)
    except OSError as exc:
        raise RnnkitError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_sentences(path, tokenizer="word"):
    """Sentences of a UTF-8 text file, one per non-empty line (see sentences_from_lines)."""
    sentences, _ = sentences_from_lines(read_text_lines(path), tokenizer, source=path)
    return sentences


def sentence_stream(word_ids, lengths, bos, eos):
    """One stream ``<s> w.. </s> <s> ...`` of ids, the depth of each position in its
    sentence (0 at <s>), the sentence start positions, and the mask of word positions."""
    spans = lengths + 2
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(spans[:-1], out=starts[1:])
    total = int(spans.sum())
    stream = np.empty(total, dtype=np.int64)
    is_word = np.ones(total, dtype=bool)
    is_word[starts] = False
    is_word[starts + lengths + 1] = False
    stream[starts] = bos
    stream[starts + lengths + 1] = eos
    stream[is_word] = word_ids
    depth = np.arange(total, dtype=np.int64) - np.repeat(starts, spans)
    return stream, depth, starts, is_word

