"""Texts, sentences and n-best lists scored by a model that adapts (rnnkit.lm.adapt).

A text file (`rnnkit eval`) is one stream, as in rnnkit.lm.evaluate; with an
N-gram model (`--mix`) each token's probability is λ P_rnn + (1 - λ) P_ngram,
where the RNN reads the stream (adapting) and the N-gram model each line from
<s>, as it was built. With a validation text the settings (and λ) are chosen
on it first (rnnkit.lm.adapt.tune); the text scored is read only after that.

rnnkit.lm.score scores each line on its own with the trained model. Here the
lines are taken in file order and the model learns from each one after it is
scored, as a recogniser's language model would over a conversation: every
line still starts from the start state, but the weights (dynamic evaluation)
and the cache's memory carry over from the lines before it.

In an n-best list the true sentence is unknown. The candidates of an
utterance are all scored with what was learnt from the utterances before it,
and then the model learns from the candidate ranked first (unsupervised
adaptation, as in Mikolov's rnnlm). Utterances are taken in the order in which
they first appear in the file.
"""

import numpy

from rnnkit.backend import xp
from rnnkit.errors import RnnkitError
from rnnkit.lm.adapt import Adapter, evaluate_adaptive, stream_log_probs, tune
from rnnkit.lm.data import ID_DTYPE, encode_file
from rnnkit.lm.results import AdaptedEvaluation, AdaptedMixEvaluation, SentenceScore
from rnnkit.lm.score import LOG10_E, encode_all, rank_nbest, read_nbest


def evaluate_text(lm, path, dynamic=None, cache=None, tune_path=None, log=None):
    """An AdaptedEvaluation: `rnnkit eval` with --dynamic and/or --cache (and --tune): evaluate's
    numbers, the settings used, the speed, and with ``tune_path`` the validation perplexity they reached."""
    dynamic, cache, tuned = _tuned(lm, dynamic, cache, tune_path, log)
    report = evaluate_adaptive(lm.model, _encode(lm, path), lm.vocab.eos_id, dynamic, cache)
    if tuned is not None:
        report.update({"tuned_on": str(tune_path), "valid_perplexity": tuned["perplexity"]})
    return AdaptedEvaluation(file=str(path), **report)


def mixed_text(lm, arpa_path, path, lam=0.5, dynamic=None, cache=None, tune_path=None, lambda_path=None, log=None):
    """An AdaptedMixEvaluation: `rnnkit eval --mix` with an adapting RNN, the adapted RNN, the N-gram
    model and their mixture on the same tokens. With ``tune_path`` the settings and then λ are chosen
    on that text; with ``lambda_path`` λ alone is."""
    from rnnkit.lm.mix import load_compatible, perplexity, tune_lambda

    ngram = load_compatible(lm, arpa_path)  # a path, or an NgramModel already loaded
    dynamic, cache, tuned = _tuned(lm, dynamic, cache, tune_path, log)
    extra = {}
    lambda_path = tune_path if tune_path is not None else lambda_path
    if lambda_path is not None:
        lam, valid_ppl = tune_lambda(*_paired(lm, ngram, str(lambda_path), dynamic, cache))
        extra.update({"tuned_on": str(lambda_path), "valid_mix_perplexity": valid_ppl})
    if tuned is not None:
        extra["valid_perplexity"] = tuned["perplexity"]
    p_rnn, p_ngram = _paired(lm, ngram, str(path), dynamic, cache)
    return AdaptedMixEvaluation(
        file=str(path), tokens=int(p_rnn.size), lam=lam, rnn_perplexity=perplexity(p_rnn, p_ngram, 1.0),
        ngram_perplexity=perplexity(p_rnn, p_ngram, 0.0), mix_perplexity=perplexity(p_rnn, p_ngram, lam),
        dynamic=_asdict(dynamic), cache=_asdict(cache), **extra)


def _tuned(lm, dynamic, cache, tune_path, log):
    if tune_path is None:
        return dynamic, cache, None
    return tune(lm.model, _encode(lm, tune_path).ids, lm.vocab.eos_id, dynamic, cache, log)


def _encode(lm, path):
    return encode_file(path, lm.tokenizer, lm.vocab)


def _asdict(settings):
    from dataclasses import asdict

    return asdict(settings) if settings is not None else None


def _paired(lm, ngram, path, dynamic, cache):
    """(P_rnn read as one adapting stream, P_ngram line by line) of every token of a text file."""
    from rnnkit.lm.mix import paired_probs

    _, p_ngram = paired_probs(lm, ngram, path)  # checks that the two models agree on the words
    ids = _encode(lm, path).ids
    if ids.size != p_ngram.size:
        raise RnnkitError(f"{path}: the RNN reads {ids.size} tokens and the N-gram model {p_ngram.size}; "
                          "a line holding <s> or </s> cannot be mixed as one stream")
    return numpy.exp(stream_log_probs(lm.model, ids, lm.vocab.eos_id, dynamic, cache)), p_ngram


def sentence_log_probs(adapter, ids, eos_id, learn):
    """Natural-log probability of each token and the end of one sentence (``ids`` without
    <eos>), from the start state; ``learn``: the adapter learns from it after scoring it."""
    x = xp.concatenate([xp.array([eos_id], dtype=ID_DTYPE), ids.astype(ID_DTYPE, copy=False)])
    y = xp.concatenate([ids.astype(ID_DTYPE, copy=False), xp.array([eos_id], dtype=ID_DTYPE)])
    window = adapter.dynamic.bptt if adapter.dynamic is not None else y.size
    out, state = [], None
    for lo in range(0, y.size, window):
        logp, state = (adapter.step if learn else adapter.score)(x[lo : lo + window], y[lo : lo + window], state)
        out.append(logp)
    return xp.concatenate(out)


def score_lines_adaptive(lm, lines, dynamic=None, cache=None):
    """rnnkit.lm.score.score_lines, learning from each line after scoring it."""
    tokens, ids, oov = encode_all(lines, lm.tokenizer, lm.vocab)
    rows = []
    with Adapter(lm.model, dynamic, cache) as adapter:
        for n, (text, toks, sentence, k) in enumerate(zip(lines, tokens, ids, oov)):
            log10p = float(sentence_log_probs(adapter, sentence, lm.vocab.eos_id, learn=True).sum()) * LOG10_E
            count = len(toks) + 1
            rows.append(SentenceScore(line=n + 1, text=text, tokens=count, oov=k, logprob=log10p,
                                      ppl=10.0 ** (-log10p / count)))
    return rows


def rescore_nbest_adaptive(lm, lines, source, lm_weight=1.0, am_weight=1.0, dynamic=None, cache=None,
                           ngram=None, lam=0.5):
    """rnnkit.lm.score.rescore_nbest, adapting over the utterances in file order; with ``ngram``
    the LM score is log10 of λ P_rnn + (1 - λ) P_ngram per token, the adapted RNN's P_rnn."""
    entries = read_nbest(lines, source)
    texts = [text for _, text, _ in entries]
    _, ids, _ = encode_all(texts, lm.tokenizer, lm.vocab)
    p_ngram = _ngram_probs(lm, ngram, texts, source) if ngram is not None else None
    by_utt = {}
    for i, (utt, _, _) in enumerate(entries):
        by_utt.setdefault(utt, []).append(i)
    scores = [None] * len(entries)
    with Adapter(lm.model, dynamic, cache) as adapter:
        for utt, members in by_utt.items():
            for i in members:
                logp = sentence_log_probs(adapter, ids[i], lm.vocab.eos_id, learn=False)
                if p_ngram is not None:
                    logp = numpy.log(lam * numpy.exp(logp) + (1.0 - lam) * p_ngram[i])
                scores[i] = float(logp.sum()) * LOG10_E
            am = [entries[i][2] for i in members]
            combined = [lm_weight * scores[i] + (am_weight * a if a is not None else 0.0) for i, a in zip(members, am)]
            best = members[max(range(len(members)), key=lambda j: (combined[j], -j))]
            sentence_log_probs(adapter, ids[best], lm.vocab.eos_id, learn=True)
    return rank_nbest(entries, scores, lm_weight, am_weight)


def _ngram_probs(lm, ngram, texts, source):
    """P_ngram of every token and end of each text, checked as rnnkit.lm.mix checks a mixture."""
    from rnnkit.lm.mix import sentence_probs
    from rnnkit.lm.tokenize import get_tokenizer

    cut = get_tokenizer(lm.tokenizer)
    sentences = [cut(t) for t in texts]
    _, p = sentence_probs(lm, ngram, sentences, range(1, len(texts) + 1), source)
    ends = numpy.cumsum([len(s) + 1 for s in sentences])
    return numpy.split(p, ends[:-1])
