"""Mixing the RNN with N-gram models, token by token (linear interpolation).

    P(w | history) = λ P_rnn(w | history) + (1 - λ) P_ngram(w | history)

and with several N-gram models P = Σ_m w_m P_m, the weights summing to 1
(chosen on held-out text by EM, as SRILM's compute-best-mix does).

The best language models of the RNN era were exactly this: an RNN
interpolated with a Kneser-Ney 5-gram (Mikolov et al. 2011). Both models
score each line as one sentence from its start and predict every token and
the sentence end (<eos> for the RNN, </s> for the N-gram), so the two
probability lists line up one to one. They must also agree on what an
unknown word is: a token that one model calls <unk> and the other knows by
name would mix two different events, so such a text is refused.
"""

import math
from dataclasses import dataclass
from functools import partial

import numpy

from rnnkit.errors import OptionError, RnnkitError
from rnnkit.ngram import NgramModel, read_text_lines, sentences_from_lines
from rnnkit.lm.tokenize import get_tokenizer


def check_lambda(lam):
    """OptionError unless ``lam`` (the RNN's weight) is in [0, 1]."""
    if not 0.0 <= lam <= 1.0:
        raise OptionError(f"{{lam}} must be in [0, 1], got {lam}", "lam")


def load_compatible(rnn, ngram):
    """``ngram`` as an NgramModel checked to cut text as ``rnn`` does: a model already loaded
    (a server loads it once, not per request), or the path of an ARPA or binary file, read here."""
    if not isinstance(ngram, NgramModel):
        ngram = NgramModel.load(str(ngram))
    ngram.check_compatible(tokenizer=rnn.tokenizer)
    return ngram


def ngram_list(ngram):
    """One N-gram model or file, or a list of them: a list of models or paths (as given)."""
    if isinstance(ngram, (list, tuple)):
        return [n if isinstance(n, NgramModel) else str(n) for n in ngram]
    return [ngram if isinstance(ngram, NgramModel) else str(ngram)]


def ngram_name(ngram):
    """How a report names an N-gram model: its path, or the file a loaded model was read from."""
    return str(ngram.source or "<N-gram model>") if isinstance(ngram, NgramModel) else str(ngram)


def paired_probs(rnn, ngram, path):
    """(P_rnn, P_ngram) of every predicted token of the text, as two float64 arrays."""
    sentences, line_numbers = sentences_from_lines(read_text_lines(path), rnn.tokenizer, source=path)
    if not sentences:
        raise RnnkitError(f"{path}: no text to evaluate")
    return sentence_probs(rnn, ngram, sentences, line_numbers, path)


def sentence_probs(rnn, ngram, sentences, line_numbers, source):
    """(P_rnn, P_ngram) of every token of the token lists, the sentence ends included."""
    check_shared_vocabulary(rnn, ngram, sentences, line_numbers, source)
    p_rnn = numpy.exp(numpy.concatenate(rnn.token_logprobs(sentences)))
    return p_rnn, ngram_probs(ngram, sentences, source)


def check_shared_vocabulary(rnn, ngram, sentences, line_numbers, source):
    """RnnkitError naming the line of a word that one model knows and the other calls <unk>."""
    known = ngram.word_index
    for sentence, line in zip(sentences, line_numbers):
        for token in sentence:
            if (token in rnn.vocab) != (token in known) and token != "<unk>":
                which = "the RNN" if token in rnn.vocab else "the N-gram model"
                raise RnnkitError(f"{source}: line {line}: {token!r} is known only to {which}; the two models "
                                  "must share a vocabulary (or the same <unk> words) to be mixed")


def ngram_probs(ngram, sentences, source):
    """P_ngram of every token of the token lists, the sentence ends included."""
    p_ngram = 10.0 ** numpy.concatenate(ngram.token_log10probs(sentences))
    if numpy.isnan(p_ngram).any():
        raise RnnkitError(f"{source}: a word outside the N-gram model's closed vocabulary has no probability; "
                          "build it with `rnnkit ngram train --unk`")
    return p_ngram


def perplexity(p_rnn, p_ngram, lam):
    """Perplexity of the mixture with weight ``lam`` on the RNN."""
    p = lam * p_rnn + (1.0 - lam) * p_ngram
    return math.exp(-numpy.log(p).mean())


def tune_lambda(p_rnn, p_ngram, steps=100):
    """The λ in [0, 1] (grid of 1/steps) with the lowest mixture perplexity."""
    grid = numpy.linspace(0.0, 1.0, steps + 1)
    ppl = [perplexity(p_rnn, p_ngram, lam) for lam in grid]
    best = int(numpy.argmin(ppl))
    return float(grid[best]), float(ppl[best])


# --- more than two models: weights by EM ------------------------------------------


def em_weights(columns, tolerance=1e-7, max_iterations=2000):
    """The mixture weights that maximise the likelihood of held-out tokens, by EM
    (as SRILM's compute-best-mix): ``columns`` is a (tokens, models) array of
    each model's probability of each token. Returns (weights, iterations).

    Each step gives every token's responsibility of each model, w_m P_m(t) /
    Σ_m' w_m' P_m'(t), and sets w_m to its mean; the likelihood never falls,
    and the weights stop when no weight moves by ``tolerance``.
    """
    p = numpy.asarray(columns, dtype=numpy.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise RnnkitError("EM needs the probabilities of at least one token under at least one model")
    weights = numpy.full(p.shape[1], 1.0 / p.shape[1])
    for iteration in range(1, max_iterations + 1):
        joint = p * weights
        total = joint.sum(axis=1, keepdims=True)
        # A token no model gives any probability says nothing about the weights.
        resp = numpy.divide(joint, total, out=numpy.zeros_like(joint), where=total > 0)
        new = resp.mean(axis=0)
        new /= new.sum()
        moved = float(numpy.abs(new - weights).max())
        weights = new
        if moved < tolerance:
            break
    return weights, iteration


def mixture_perplexity(columns, weights):
    """Perplexity (e^mean negative log) of the tokens under Σ_m w_m P_m."""
    p = numpy.asarray(columns, dtype=numpy.float64) @ numpy.asarray(weights, dtype=numpy.float64)
    return math.exp(-numpy.log(p).mean())


@dataclass
class MixedText:
    """A text as both kinds of model read it: its ``lines``, the token lists of the non-empty
    ones (``sentences``, at ``line_numbers``), and ``columns`` (tokens, 1 + N-gram models):
    P_rnn, then each N-gram's P, of every token, the sentence ends included; ``unk``: which
    targets are <unk> to the RNN."""

    lines: list
    sentences: list
    line_numbers: list
    columns: numpy.ndarray
    unk: numpy.ndarray


def static_rnn_probs(rnn, sentences):
    """P_rnn of every token of the token lists (ends included), each from the start state."""
    return numpy.exp(numpy.concatenate(rnn.token_logprobs(sentences)))


def mixture_columns(rnn, ngrams, path, rnn_probs=None):
    """The MixedText of a text file. ``rnn_probs(sentences)``: P_rnn of every token of the
    token lists in order (default: static_rnn_probs, each line scored from its start; an
    adapting RNN reads them as one stream, rnnkit.lm.adapt_score)."""
    lines = read_text_lines(path)
    sentences, line_numbers = sentences_from_lines(lines, rnn.tokenizer, source=path)
    if not sentences:
        raise RnnkitError(f"{path}: no text to evaluate")
    for ngram in ngrams:
        check_shared_vocabulary(rnn, ngram, sentences, line_numbers, path)
    columns = [(rnn_probs or partial(static_rnn_probs, rnn))(sentences)]
    columns += [ngram_probs(ngram, sentences, path) for ngram in ngrams]
    unk = numpy.concatenate([[w == "<unk>" or w not in rnn.vocab for w in s] + [False] for s in sentences])
    return MixedText(lines, sentences, line_numbers, numpy.column_stack(columns), unk)


def mixture_report(rnn, ngram_paths, text_path, lam=0.5, tune_path=None, rnn_probs=None, ngrams=None):
    """`rnnkit eval --mix A [--mix B ..]`: the RNN, each N-gram model and their mixture on the same
    tokens, each with and without the <unk> targets.

    ``ngram_paths``: N-gram files or loaded NgramModels. Weights: ``lam`` for the RNN
    and the rest shared equally by the N-gram models, or, with ``tune_path``, all of them chosen by EM on that text
    (SRILM's compute-best-mix). The dict keeps the keys of the one-model report
    (``lambda`` is the RNN's weight, ``ngram_perplexity`` the first N-gram's)
    and adds ``weights`` (the RNN's first), ``ngram_perplexities`` and the
    ``*_without_unk`` figures. ``rnn_probs``: as mixture_columns takes it, on
    both texts; ``ngrams``: the models of ngram_paths if already loaded.
    Returns (the dict, the text's MixedText, the weights).
    """
    if ngrams is None:
        ngrams = [load_compatible(rnn, p) for p in ngram_paths]
    report = {}
    if tune_path is not None:
        columns = mixture_columns(rnn, ngrams, tune_path, rnn_probs).columns
        weights, iterations = em_weights(columns)
        report.update({"tuned_on": tune_path, "valid_mix_perplexity": mixture_perplexity(columns, weights)})
    else:
        weights = numpy.array([lam] + [(1.0 - lam) / len(ngrams)] * len(ngrams))
    text = mixture_columns(rnn, ngrams, text_path, rnn_probs)
    columns, unk = text.columns, text.unk
    known = columns[~unk]

    def both(w):
        return mixture_perplexity(columns, w), (mixture_perplexity(known, w) if len(known) else math.nan)

    alone = [both(numpy.eye(columns.shape[1])[m]) for m in range(columns.shape[1])]
    mix, mix_known = both(weights)
    report.update({
        "file": text_path, "tokens": int(columns.shape[0]), "lambda": float(weights[0]),
        "rnn_perplexity": alone[0][0], "ngram_perplexity": alone[1][0], "mix_perplexity": mix,
        "unk_tokens": int(unk.sum()),
        "rnn_perplexity_without_unk": alone[0][1], "ngram_perplexity_without_unk": alone[1][1],
        "mix_perplexity_without_unk": mix_known,
        "models": [ngram_name(p) for p in ngram_paths], "weights": [float(w) for w in weights],
        "ngram_perplexities": [a[0] for a in alone[1:]],
        "ngram_perplexities_without_unk": [a[1] for a in alone[1:]],
    })
    if tune_path is not None:
        report["em_iterations"] = iterations
    return report, text, weights


def mixture_word_scores(text, weights):
    """One WordScores per non-empty line of a MixedText: the log10 of the mixture Σ_m w_m P_m
    of each token, <eos> last (the N-gram's </s>)."""
    from rnnkit.lm.results import WordScores

    log10 = numpy.log10(text.columns @ numpy.asarray(weights, dtype=numpy.float64)).tolist()
    unk = text.unk.tolist()
    out, at = [], 0
    for sentence, number in zip(text.sentences, text.line_numbers):
        n = len(sentence) + 1
        out.append(WordScores(number, text.lines[number - 1], sentence + ["<eos>"], log10[at : at + n],
                              unk[at : at + n]))
        at += n
    return out


def mixture_weights(rnn, ngram_paths, lam=0.5, tune_path=None, rnn_probs=None):
    """(weights, the N-gram models): the RNN's weight ``lam`` and an equal share of the
    rest for each N-gram model, or all of them tuned by EM on ``tune_path`` (the RNN's
    probabilities there from ``rnn_probs``, as mixture_columns takes it). ``ngram_paths``:
    files to read or NgramModels already loaded (load_compatible)."""
    ngrams = [load_compatible(rnn, p) for p in ngram_paths]
    if tune_path is None:
        return numpy.array([lam] + [(1.0 - lam) / len(ngrams)] * len(ngrams)), ngrams
    columns = mixture_columns(rnn, ngrams, str(tune_path), rnn_probs).columns
    return em_weights(columns)[0], ngrams


def mixture_sentence_log10probs(rnn, ngrams, texts, weights, source="<text>"):
    """log10 P_mix of each text as one sentence (its end included), P_mix = Σ_m w_m P_m
    over the RNN and the N-gram models: for n-best rescoring."""
    if not texts:
        return []
    cut = get_tokenizer(rnn.tokenizer)
    sentences = [cut(t) for t in texts]
    line_numbers = range(1, len(texts) + 1)
    for ngram in ngrams:
        check_shared_vocabulary(rnn, ngram, sentences, line_numbers, source)
    columns = [numpy.exp(numpy.concatenate(rnn.token_logprobs(sentences)))]
    columns += [ngram_probs(ngram, sentences, source) for ngram in ngrams]
    log10_mix = numpy.log10(numpy.column_stack(columns) @ numpy.asarray(weights, dtype=numpy.float64))
    ends = numpy.cumsum([len(s) + 1 for s in sentences])
    return [float(x) for x in numpy.add.reduceat(log10_mix, numpy.concatenate([[0], ends[:-1]]))]
