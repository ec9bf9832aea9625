"""The ARPA format as rnnkit reads and writes it, and the side file beside it.

An ARPA file is a ``\\data\\`` header with the number of n-grams per order,
then one ``\\k-grams:`` section per order with lines ``log10 p <TAB> w_1 ..
w_k [<TAB> log10 b]``, then ``\\end\\``. Fields are separated by ASCII
whitespace (KenLM splits on ASCII only, so a word may contain, say, a
non-breaking space).

The side file ``FILE.arpa.json`` records what ARPA cannot (tokenizer, open
or closed vocabulary, discounts); without it a file is read as KenLM would:
the ``word`` tokenizer, and an open vocabulary exactly when ``<unk>`` is
listed.
"""

import json

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.lm.tokenize import TOKENIZERS
from rnnkit.ngram.text import EOS

SIDECAR_SUFFIX = ".json"
SIDECAR_FORMAT = "rnnkit-ngram"
# What SRILM and KenLM write as the log10 probability of <s>, which is never predicted.
LOG10_ZERO = -99.0
PRECISION = 6  # decimals written to ARPA files: log10 values to 5e-7

# The bytes that separate fields.
SEPARATOR = np.zeros(256, dtype=bool)
SEPARATOR[[9, 10, 11, 12, 13, 32]] = True


def sidecar_record(order, tokenizer, open_vocabulary, estimation=None):
    """The side file's record of a model."""
    meta = {
        "format": SIDECAR_FORMAT,
        "version": 1,
        "order": order,
        "tokenizer": tokenizer,
        "unk": open_vocabulary,
        "sentence_end": EOS,
    }
    if estimation:
        meta["estimation"] = estimation
    return meta


def read_sidecar(sidecar, order):
    """The record of a side file, checked against the ARPA file's order."""
    try:
        with open(sidecar, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RnnkitError(f"{sidecar}: unreadable side file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise RnnkitError(f"{sidecar}: not an rnnkit N-gram side file")
    if meta.get("order", order) != order:
        raise RnnkitError(f"{sidecar}: says order {meta.get('order')}, but the ARPA file has order {order}")
    if meta.get("tokenizer", "word") not in TOKENIZERS:
        raise RnnkitError(f"{sidecar}: unknown tokenizer {meta.get('tokenizer')!r}")
    if not isinstance(meta.get("unk", False), bool):
        raise RnnkitError(f"{sidecar}: 'unk' must be true or false")
    return meta
