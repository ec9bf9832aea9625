"""Mixing the RNN with an N-gram model, token by token (linear interpolation).

    P(w | history) = λ P_rnn(w | history) + (1 - λ) P_ngram(w | history)

The best language models of the RNN era were exactly this: an RNN
interpolated with a Kneser-Ney 5-gram (Mikolov et al. 2011). Both models
score each line as one sentence from its start and predict every token and
the sentence end (<eos> for the RNN, </s> for the N-gram), so the two
probability lists line up one to one. They must also agree on what an
unknown word is: a token that one model calls <unk> and the other knows by
name would mix two different events, so such a text is refused.
"""

import math

import numpy

from rnnkit.errors import OptionError, RnnkitError
from rnnkit.ngram import NgramModel, read_text_lines, sentences_from_lines
from rnnkit.lm.tokenize import get_tokenizer


def check_lambda(lam):
    """OptionError unless ``lam`` (the RNN's weight) is in [0, 1]."""
    if not 0.0 <= lam <= 1.0:
        raise OptionError(f"{{lam}} must be in [0, 1], got {lam}", "lam")


def load_compatible(rnn, arpa_path):
    """The N-gram model at ``arpa_path``, checked to cut text as ``rnn`` does."""
    ngram = NgramModel.load(arpa_path)
    ngram.check_compatible(tokenizer=rnn.tokenizer)
    return ngram


def paired_probs(rnn, ngram, path):
    """(P_rnn, P_ngram) of every predicted token of the text, as two float64 arrays."""
    sentences, line_numbers = sentences_from_lines(read_text_lines(path), rnn.tokenizer, source=path)
    if not sentences:
        raise RnnkitError(f"{path}: no text to evaluate")
    return sentence_probs(rnn, ngram, sentences, line_numbers, path)


def sentence_probs(rnn, ngram, sentences, line_numbers, source):
    """(P_rnn, P_ngram) of every token of the token lists, the sentence ends included."""
    known = set(ngram.vocab)
    for sentence, line in zip(sentences, line_numbers):
        for token in sentence:
            if (token in rnn.vocab) != (token in known) and token != "<unk>":
                which = "the RNN" if token in rnn.vocab else "the N-gram model"
                raise RnnkitError(f"{source}: line {line}: {token!r} is known only to {which}; the two models "
                                  "must share a vocabulary (or the same <unk> words) to be mixed")
    p_rnn = numpy.exp(numpy.concatenate(rnn.token_logprobs(sentences)))
    p_ngram = 10.0 ** numpy.concatenate(ngram.token_log10probs(sentences))
    if numpy.isnan(p_ngram).any():
        raise RnnkitError(f"{source}: a word outside the N-gram model's closed vocabulary has no probability; "
                          "build it with `rnnkit ngram train --unk`")
    return p_rnn, p_ngram


def mixed_sentence_log10probs(rnn, ngram, texts, lam, source="<text>"):
    """log10 P_mix of each text as one sentence (its end included): for n-best rescoring."""
    if not texts:
        return []
    cut = get_tokenizer(rnn.tokenizer)
    sentences = [cut(t) for t in texts]
    p_rnn, p_ngram = sentence_probs(rnn, ngram, sentences, range(1, len(texts) + 1), source)
    log10_mix = numpy.log10(lam * p_rnn + (1.0 - lam) * p_ngram)
    ends = numpy.cumsum([len(s) + 1 for s in sentences])
    return [float(x) for x in numpy.add.reduceat(log10_mix, numpy.concatenate([[0], ends[:-1]]))]


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


def mixed_report(rnn, arpa_path, text_path, lam=None, tune_path=None):
    """What `rnnkit eval --mix` prints: the RNN, the N-gram and the mixture on the same tokens."""
    ngram = load_compatible(rnn, arpa_path)
    report = {}
    if tune_path is not None:
        lam, valid_ppl = tune_lambda(*paired_probs(rnn, ngram, tune_path))
        report.update({"tuned_on": tune_path, "valid_mix_perplexity": valid_ppl})
    p_rnn, p_ngram = paired_probs(rnn, ngram, text_path)
    report.update({
        "file": text_path, "tokens": int(p_rnn.size), "lambda": lam,
        "rnn_perplexity": perplexity(p_rnn, p_ngram, 1.0),
        "ngram_perplexity": perplexity(p_rnn, p_ngram, 0.0),
        "mix_perplexity": perplexity(p_rnn, p_ngram, lam),
    })
    return report
