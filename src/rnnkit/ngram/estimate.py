"""Estimation: Kneser-Ney discounts and interpolation, from counts to a model.

Discounts (Chen and Goodman 1998)
---------------------------------
For each order k, let n_r be the number of k-grams whose adjusted count (see
counts.py) is exactly r (the count-of-counts). With Y = n_1 / (n_1 + 2 n_2):

    modified KN (three discounts):  D_1  = 1 - 2 Y n_2 / n_1   (which equals Y)
                                    D_2  = 2 - 3 Y n_3 / n_2
                                    D_3+ = 3 - 4 Y n_4 / n_3
    plain KN (one discount):        D    = Y

These are the leaving-one-out estimates of the best discounts. When the
corpus is too small for them (some n_r is zero, or a discount falls outside
(0, r]), the estimate is meaningless; we then use lmplz's
``--discount_fallback`` values 0.5, 1.0, 1.5 (plain KN: 0.75, the textbook
absolute discount) and say so in the ``estimation`` record.

Interpolation
-------------
For a context h = w_1..w_{k-1} and its shortened context h' = w_2..w_{k-1},
with D(a) the discount for a count a (D_1, D_2 or D_3+) and all sums over the
words x that follow h:

    p(w | h)  = (a(h w) - D(a(h w))) / sum_x a(h x)  +  gamma(h) p(w | h')
    gamma(h)  = (D_1 N_1(h .) + D_2 N_2(h .) + D_3+ N_3+(h .)) / sum_x a(h x)

where N_r(h .) counts the words that follow h with adjusted count r (3+ for
"3 or more"). gamma(h) is exactly the mass the discounts removed, so p(. | h)
sums to 1 whenever p(. | h') does. The recursion ends at the unigrams, which
are interpolated with the uniform distribution over the |V| predictable words
(the vocabulary without ``<s>``; with ``<unk>`` in an open vocabulary):

    p(w) = (a(w) - D(a(w))) / sum_x a(x)  +  gamma() / |V|

This uniform term is the only probability an unseen ``<unk>`` ever gets.

For an interpolated model the back-off weight of the ARPA form (query.py) is
b(h) = gamma(h): an unseen h w has a(h w) = 0, so backing off reproduces the
formula above exactly.

Count pruning (lmplz's ``--prune``)
-----------------------------------
A threshold t_k per order (t_1 = 0: unigrams are never pruned; the values
may not decrease, and the last one holds for the higher orders): a k-gram
whose raw count is at most t_k is left out of the model. As in lmplz,
pruning changes neither the adjusted counts nor the discounts (both are
computed from every n-gram), and a pruned n-gram's whole adjusted count goes
to its context's back-off mass, so each distribution still sums to 1:

    gamma(h)  = (sum over kept x of D(a(h x))  +  sum over pruned x of a(h x)) / sum_x a(h x)

A kept n-gram keeps the formula above with this gamma; a pruned one backs
off. Raw counts never grow when an n-gram is extended, so with thresholds
that do not decrease every kept n-gram keeps its prefix and its suffix.
"""

import os
from dataclasses import dataclass

import numpy as np

from rnnkit.errors import OptionError, RnnkitError
from rnnkit.lm.tokenize import get_tokenizer
from rnnkit.ngram.counts import adjusted_counts, check_order, count_ngrams
from rnnkit.ngram.lookup import OrderTable
from rnnkit.ngram.query import NgramModel
from rnnkit.ngram.text import read_text_lines, sentences_from_lines

DISCOUNT_METHODS = ("modified-kn", "kn")
# lmplz --discount_fallback's defaults for D_1, D_2, D_3+; 0.75 is the textbook
# absolute discount for plain KN.
FALLBACK_DISCOUNTS = {"modified-kn": (0.5, 1.0, 1.5), "kn": (0.75, 0.75, 0.75)}


def check_discount(method):
    """Refuse a discount method other than DISCOUNT_METHODS."""
    if method not in DISCOUNT_METHODS:
        raise OptionError(f"unknown {{discount}} {method!r}; expected one of {', '.join(DISCOUNT_METHODS)}", "discount")


def discount_of(adjusted, discounts):
    """D(a) for every adjusted count a: 0 for a = 0, D_1, D_2, or D_3+ for a >= 3."""
    table = np.array([0.0, discounts[0], discounts[1], discounts[2]])
    return table[np.minimum(adjusted, 3)]


def kn_discounts(adjusted, method="modified-kn"):
    """Discounts (D_1, D_2, D_3+) from the count-of-counts of adjusted counts.

    Returns (discounts, [n_1, n_2, n_3, n_4], fell_back). Plain KN returns the
    same D three times. See the module docstring for the formulas.
    """
    check_discount(method)
    adjusted = np.asarray(adjusted)
    n = np.bincount(np.minimum(adjusted[adjusted > 0], 5), minlength=6)[1:5].astype(np.float64)
    n1, n2, n3, n4 = n
    count_of_counts = [int(x) for x in n]
    if method == "kn":
        if n1 > 0 and n2 > 0:
            d = n1 / (n1 + 2 * n2)
            return (d, d, d), count_of_counts, False
        return FALLBACK_DISCOUNTS["kn"], count_of_counts, True
    if min(n) > 0:
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        if all(0 < d_r <= r for r, d_r in enumerate(d, 1)):
            return d, count_of_counts, False
    return FALLBACK_DISCOUNTS["modified-kn"], count_of_counts, True


def check_prune(prune, order):
    """The count-pruning thresholds of every order, from lmplz-style ``--prune`` values
    (the last one holds for the higher orders); OptionError when they cannot be used."""
    if not prune:
        return [0] * order
    values = list(prune)
    if any(not isinstance(t, (int, np.integer)) or isinstance(t, bool) or t < 0 for t in values):
        raise OptionError(f"{{prune}} takes whole numbers of at least 0, not {' '.join(map(str, values))}", "prune")
    if len(values) > order:
        raise OptionError(f"{{prune}} gives {len(values)} thresholds for a model of order {order}", "prune")
    if values[0] != 0:
        raise OptionError("{prune}: unigrams cannot be pruned (as in lmplz), so the first threshold must be 0", "prune")
    if any(b < a for a, b in zip(values, values[1:])):
        raise OptionError(
            "{prune}: the thresholds may not decrease (as in lmplz: otherwise an n-gram could lose its context)", "prune"
        )
    return [int(t) for t in values] + [int(values[-1])] * (order - len(values))


def estimate(sentences, order, discount="modified-kn", open_vocabulary=False, tokenizer="word", prune=None):
    """Estimate an interpolated (modified) Kneser-Ney model from token lists.

    discount: "modified-kn" (three discounts per order) or "kn" (one).
    prune: count-pruning thresholds per order, as lmplz's ``--prune`` (see above).
    Returns an NgramModel whose ``estimation`` records, per order, the number
    of n-grams, the count-of-counts, the discounts and whether the fallback
    discounts were used.
    """
    check_discount(discount)
    check_order(order)
    thresholds = check_prune(prune, order)
    if not any(sentences):
        raise RnnkitError("the corpus has no words")
    counts = count_ngrams(sentences, order, open_vocabulary)
    adjusted = adjusted_counts(counts)
    bos = counts.bos
    predictable = len(counts.vocab) - 1  # every word but <s>

    discounts, records = [], []
    for k in range(1, order + 1):
        d, count_of_counts, fell_back = kn_discounts(adjusted[k - 1], discount)
        discounts.append(d)
        records.append(
            {
                "order": k,
                "ngrams": int(len(counts.count[k - 1])),
                "count_of_counts": count_of_counts,
                "discounts": [float(x) for x in (d if discount == "modified-kn" else d[:1])],
                "fallback": fell_back,
            }
        )

    # Unigrams: discounted adjusted counts plus the freed mass spread uniformly.
    a = adjusted[0].astype(np.float64)
    d = discount_of(adjusted[0], discounts[0])
    total = a.sum()
    prob = (a - d) / total + (d.sum() / total) / predictable
    prob[bos] = 0.0
    probs, bows = [prob], []
    for k in range(2, order + 1):
        prefix = counts.prefix[k - 1]
        n_contexts = len(counts.count[k - 2])
        a = adjusted[k - 1].astype(np.float64)
        d = discount_of(adjusted[k - 1], discounts[k - 1])
        total = np.bincount(prefix, weights=a, minlength=n_contexts)
        # A pruned n-gram frees its whole adjusted count, not only its discount.
        freed = np.bincount(prefix, weights=np.where(counts.count[k - 1] <= thresholds[k - 1], a, d), minlength=n_contexts)
        # gamma(h) is the freed mass; a context that nothing follows keeps b = 1.
        has_next = total > 0
        gamma = np.ones(n_contexts)
        gamma[has_next] = freed[has_next] / total[has_next]
        probs.append((a - d) / total[prefix] + gamma[prefix] * probs[-1][counts.suffix[k - 1]])
        bows.append(np.log10(gamma))  # the back-off weights of order k-1
    bows.append(np.zeros(len(counts.count[-1])))  # the highest order has none
    with np.errstate(divide="ignore"):
        logprobs = [np.log10(p) for p in probs]
    tables = _pruned_tables(counts, logprobs, bows, thresholds)
    if any(thresholds):  # (the side file of an unpruned model stays as it was)
        for record, table in zip(records, tables):
            record["pruned"] = record["ngrams"] - len(table)
            record["ngrams"] = len(table)
    estimation = {
        "discount": discount,
        "sentences": len(sentences),
        "tokens": int(counts.count[0].sum() - counts.count[0][bos]),  # words and </s>
        "orders": records,
    }
    if any(thresholds):
        estimation["prune"] = thresholds
    return NgramModel(counts.vocab, tables, tokenizer, open_vocabulary, estimation)


def _pruned_tables(counts, logprobs, bows, thresholds):
    """The order tables of the n-grams whose raw count is above their order's threshold,
    each prefix renumbered to its entry among the kept n-grams of the order below."""
    tables, renumber = [], None
    for k, threshold in enumerate(thresholds):
        keep = counts.count[k] > threshold if k > 0 else np.ones(len(counts.count[k]), dtype=bool)
        prefix = counts.prefix[k][keep]
        if renumber is not None:
            prefix = renumber[prefix]  # a kept n-gram's prefix is kept: raw counts never grow (see above)
        tables.append(OrderTable(prefix=prefix, word=counts.word[k][keep], logprob=logprobs[k][keep], bow=bows[k][keep]))
        renumber = np.cumsum(keep) - 1
    return tables


def train_file(corpus, order, discount="modified-kn", open_vocabulary=False, tokenizer="word", prune=None):
    """Read, tokenise and estimate: all of ``rnnkit ngram train`` but the writing
    (``NgramModel.train`` calls this). ``corpus`` '-' reads standard input."""
    check_order(order)
    check_discount(discount)
    check_prune(prune, order)
    get_tokenizer(tokenizer)  # a bad name fails before the corpus is read
    sentences, _ = sentences_from_lines(read_text_lines(corpus), tokenizer, source=corpus)
    if not sentences:
        raise RnnkitError(f"{corpus}: no words (the file is empty or blank)")
    model = estimate(sentences, order, discount, open_vocabulary, tokenizer, prune)
    model.estimation["corpus"] = os.path.abspath(corpus) if corpus != "-" else "<stdin>"
    return model


@dataclass
class DiscountFallback:
    """An order whose corpus was too small for estimated discounts: the
    count-of-counts [n_1, n_2, n_3, n_4] and the fallback discounts used."""

    order: int
    count_of_counts: list
    discounts: list


@dataclass
class TrainingSummary:
    """What a front end reports after estimating a model (``NgramModel.training_summary``).

    ``ngrams`` is the number of n-grams per order (after pruning), ``discounts`` the discounts
    per order (one for plain KN, three for modified KN), ``tokens`` the words
    and sentence ends counted, ``fallbacks`` the orders that used fallback
    discounts.
    """

    order: int
    discount: str
    tokenizer: str
    unk: bool
    vocabulary: int
    ngrams: list
    sentences: int
    tokens: int
    discounts: list
    fallbacks: list
    prune: list = None  # the count-pruning thresholds per order, None without pruning
    pruned: list = None  # n-grams left out per order

    @classmethod
    def of(cls, model):
        est = model.estimation
        if not est or "orders" not in est:
            raise RnnkitError("the model was not estimated by rnnkit: it has no training record")
        try:
            # the record comes from a side file or a binary file's header: any JSON may be there
            if not (isinstance(est, dict) and isinstance(est["orders"], list)
                    and all(isinstance(r, dict) for r in est["orders"])
                    and isinstance(est["discount"], str)
                    and all(type(est[k]) is int for k in ("sentences", "tokens"))):
                raise TypeError
            return cls(
                order=model.order,
                discount=est["discount"],
                tokenizer=model.tokenizer,
                unk=model.open_vocabulary,
                vocabulary=len(model.vocab),
                ngrams=model.counts(),
                sentences=est["sentences"],
                tokens=est["tokens"],
                discounts=[r["discounts"] for r in est["orders"]],
                fallbacks=[
                    DiscountFallback(r["order"], r["count_of_counts"], r["discounts"])
                    for r in est["orders"] if r["fallback"]
                ],
                prune=est.get("prune"),
                pruned=[r.get("pruned", 0) for r in est["orders"]] if est.get("prune") else None,
            )
        except (KeyError, TypeError):
            where = f"{model.sidecar}: " if model.sidecar else ""
            raise RnnkitError(f"{where}the model's training record is damaged") from None
