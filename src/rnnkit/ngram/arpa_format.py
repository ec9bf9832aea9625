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
# The largest magnitude a finite log10 value in a model may have: far beyond any real
# model's (no float64 probability lies below 10^-324; -inf says zero), and small enough
# that sums of them never overflow where scores and perplexities are computed (values
# near 1e308 made those OverflowErrors, or NaN where +inf met -inf).
MAX_LOG10 = 1e100

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
    except RecursionError:
        raise RnnkitError(f"{sidecar}: unreadable side file (JSON nested too deeply)") from None
    return check_record(meta, sidecar, order, "side file")


def check_record(meta, where, order, what):
    """A side-file record (a side file's, or the one a binary file holds), checked against
    the model's order; ``where`` and ``what`` name it in the errors."""
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise RnnkitError(f"{where}: not an rnnkit N-gram {what}")
    if meta.get("order", order) != order:
        raise RnnkitError(f"{where}: says order {str(meta.get('order'))[:40]}, but the model has order {order}")
    tokenizer = meta.get("tokenizer", "word")
    if not isinstance(tokenizer, str) or tokenizer not in TOKENIZERS:
        raise RnnkitError(f"{where}: unknown tokenizer {str(tokenizer)[:40]!r}")
    if not isinstance(meta.get("unk", False), bool):
        raise RnnkitError(f"{where}: 'unk' must be true or false")
    return meta
