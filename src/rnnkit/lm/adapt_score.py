"""Texts, sentences and n-best lists scored by a model that adapts (rnnkit.lm.adapt).

A text file (`rnnkit eval`) is one stream, as in rnnkit.lm.evaluate; with
N-gram models (`--mix`) each token's probability is λ P_rnn + Σ_m w_m P_m
(rnnkit.lm.mix), where the RNN reads the stream (adapting) and each N-gram
model each line from <s>, as it was built. With a validation text the
settings (and the weights) are chosen on it first (rnnkit.lm.adapt.tune); the
text scored is read only after that.

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

import time
from functools import partial

import numpy

from rnnkit.backend import xp
from rnnkit.lm.adapt import Adapter, report, stream_log_probs, tune
from rnnkit.lm.data import ID_DTYPE, encode_file
from rnnkit.lm.results import AdaptedEvaluation, AdaptedMixEvaluation
from rnnkit.lm.score import LOG10_E, encode_all, rank_nbest, sentence_row


def tuned_settings(lm, dynamic, cache, tune_path, log=None):
    """(dynamic, cache, None) as given, or with ``tune_path`` the settings chosen on that text
    (rnnkit.lm.adapt.tune) and its report: read before the text to be scored is."""
    if tune_path is None:
        return dynamic, cache, None
    return tune(lm.model, _encode(lm, tune_path).ids, lm.vocab.eos_id, dynamic, cache, log)


def adapted_stream(lm, ids, dynamic=None, cache=None, tuned=None, tune_path=None):
    """(ln p of every token of the stream ``ids`` read adapting (float64), the fields an
    AdaptedEvaluation adds to Evaluation's: the settings, the time, the tuning)."""
    t0 = time.perf_counter()
    logp = stream_log_probs(lm.model, ids, lm.vocab.eos_id, dynamic, cache)
    seconds = time.perf_counter() - t0
    extra = {"dynamic": _asdict(dynamic), "cache": _asdict(cache), "seconds": seconds,
             "tokens_per_second": ids.size / seconds if seconds > 0 else float("inf")}
    if tuned is not None:
        extra.update({"tuned_on": str(tune_path), "valid_perplexity": tuned["perplexity"]})
    return logp, extra


def evaluate_text(lm, path, dynamic=None, cache=None, tune_path=None, log=None):
    """An AdaptedEvaluation: `rnnkit eval` with --dynamic and/or --cache (and --tune): evaluate's
    numbers, the settings used, the speed, and with ``tune_path`` the validation perplexity they reached."""
    dynamic, cache, tuned = tuned_settings(lm, dynamic, cache, tune_path, log)
    enc = _encode(lm, path)
    logp, extra = adapted_stream(lm, enc.ids, dynamic, cache, tuned, tune_path)
    r = report(logp, enc.ids, oov=enc.oov)
    return AdaptedEvaluation(file=str(path), **r, **extra)


def mixed_text(lm, arpa_paths, path, lam=0.5, dynamic=None, cache=None, tune_path=None, lambda_path=None, log=None,
               keep_text=False):
    """An AdaptedMixEvaluation: `rnnkit eval --mix` (one N-gram file or several) with an adapting RNN:
    the adapted RNN, each N-gram model and their mixture on the same tokens, as rnnkit.lm.mix's
    mixture_report gives them for the static RNN. With ``tune_path`` the settings and then the
    weights are chosen on that text; with ``lambda_path`` the weights alone are (EM).
    ``keep_text``: (the evaluation, the text's MixedText, the weights), for per-word output."""
    from rnnkit.lm.mix import load_compatible, mixture_report, ngram_list

    models = ngram_list(arpa_paths)  # paths, or NgramModels already loaded
    ngrams = [load_compatible(lm, m) for m in models]  # before tuning: a bad file fails at once
    dynamic, cache, tuned = tuned_settings(lm, dynamic, cache, tune_path, log)
    lambda_path = tune_path if tune_path is not None else lambda_path
    figures, text, weights = mixture_report(lm, models, str(path), lam, None if lambda_path is None else str(lambda_path),
                                            rnn_probs=partial(stream_probs, lm, dynamic, cache), ngrams=ngrams)
    figures["lam"] = figures.pop("lambda")
    if tuned is not None:
        figures["valid_perplexity"] = tuned["perplexity"]
    r = AdaptedMixEvaluation(**figures, dynamic=_asdict(dynamic), cache=_asdict(cache))
    return (r, text, weights) if keep_text else r


def stream_probs(lm, dynamic, cache, sentences):
    """P of every token of the token lists (each sentence's end included) read as one stream
    from the start state, adapting as it goes: the RNN's part of a mixture."""
    eos = lm.vocab.eos_id
    ids = numpy.array([i for s in sentences for i in [*lm.vocab.encode(s), eos]], dtype=ID_DTYPE)
    return numpy.exp(stream_log_probs(lm.model, ids, eos, dynamic, cache))


def lines_probs(lm, dynamic, cache, sentences):
    """P of every token of the token lists (ends included), each sentence from the start state
    and learnt from after it is scored, in order: how `rnnkit score` reads held-out lines."""
    eos = lm.vocab.eos_id
    with Adapter(lm.model, dynamic, cache) as adapter:
        logp = [sentence_log_probs(adapter, numpy.array(lm.vocab.encode(s), dtype=ID_DTYPE), eos, learn=True)
                for s in sentences]
    return numpy.exp(numpy.concatenate(logp))


def _encode(lm, path):
    return encode_file(path, lm.tokenizer, lm.vocab)


def _asdict(settings):
    from dataclasses import asdict

    return asdict(settings) if settings is not None else None


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


def score_lines_adaptive(lm, lines, dynamic=None, cache=None, per_word=False):
    """rnnkit.lm.score.score_lines, learning from each line after scoring it; ``per_word``: each
    row with the log10 probability of each token, the ones the adapted model (and cache) gave."""
    tokens, ids, oov = encode_all(lines, lm.tokenizer, lm.vocab)
    rows = []
    with Adapter(lm.model, dynamic, cache) as adapter:
        for n, (text, toks, sentence, k) in enumerate(zip(lines, tokens, ids, oov)):
            logp = sentence_log_probs(adapter, sentence, lm.vocab.eos_id, learn=True)
            rows.append(sentence_row(n + 1, text, toks, k, sentence, logp, lm.vocab, per_word))
    return rows


def nbest_log10probs(lm, nbest, lm_weight=1.0, am_weight=1.0, dynamic=None, cache=None, ngrams=(), weights=None):
    """The LM log10 score of every candidate of an rnnkit.lm.nbest.NbestList (any format), in the
    file's order, the RNN adapting over the utterances: each utterance's candidates are scored
    with what was learnt before it, then it learns from the one ranked first (``lm_weight``,
    ``am_weight``: the combined score that ranks). With ``ngrams`` the score is log10 of the
    mixture Σ_m w_m P_m per token (``weights``: the RNN's first), the adapted RNN's P_rnn."""
    texts = [h.text for h in nbest.hypotheses]
    _, ids, _ = encode_all(texts, lm.tokenizer, lm.vocab)
    p_ngram = _ngram_probs(lm, ngrams, texts, nbest.source) if ngrams else None
    by_utt = {}
    for i, h in enumerate(nbest.hypotheses):
        by_utt.setdefault(h.utt, []).append(i)
    scores = [None] * len(texts)
    with Adapter(lm.model, dynamic, cache) as adapter:
        for utt, members in by_utt.items():
            for i in members:
                logp = sentence_log_probs(adapter, ids[i], lm.vocab.eos_id, learn=False)
                if p_ngram is not None:
                    logp = numpy.log(numpy.column_stack([numpy.exp(logp), p_ngram[i]]) @ weights)
                scores[i] = float(logp.sum()) * LOG10_E
            am = [nbest.hypotheses[i].am_score for i in members]
            combined = [lm_weight * scores[i] + (am_weight * a if a is not None else 0.0) for i, a in zip(members, am)]
            best = members[max(range(len(members)), key=lambda j: (combined[j], -j))]
            sentence_log_probs(adapter, ids[best], lm.vocab.eos_id, learn=True)
    return scores


def rescore_nbest_adaptive(lm, lines, source, lm_weight=1.0, am_weight=1.0, dynamic=None, cache=None,
                           ngram=None, lam=0.5):
    """rnnkit.lm.score.rescore_nbest for tsv lines, adapting over the utterances in file order
    (nbest_log10probs); with ``ngram`` (a loaded N-gram model) mixed with weight ``lam`` on the RNN."""
    from rnnkit.lm.nbest import read_nbest_list

    nbest = read_nbest_list(lines, source, format="tsv")
    ngrams, weights = ([ngram], numpy.array([lam, 1.0 - lam])) if ngram is not None else ((), None)
    scores = nbest_log10probs(lm, nbest, lm_weight, am_weight, dynamic, cache, ngrams, weights)
    return rank_nbest(nbest.entries(), scores, lm_weight, am_weight)


def _ngram_probs(lm, ngrams, texts, source):
    """Per text, the (tokens + end, N-gram models) array of each N-gram's P of every token and
    the end, the texts checked as rnnkit.lm.mix checks a mixture."""
    from rnnkit.lm.mix import check_shared_vocabulary, ngram_probs
    from rnnkit.lm.tokenize import get_tokenizer

    cut = get_tokenizer(lm.tokenizer)
    sentences = [cut(t) for t in texts]
    line_numbers = range(1, len(texts) + 1)
    columns = []
    for ngram in ngrams:
        check_shared_vocabulary(lm, ngram, sentences, line_numbers, source)
        columns.append(ngram_probs(ngram, sentences, source))
    ends = numpy.cumsum([len(s) + 1 for s in sentences])
    return numpy.split(numpy.column_stack(columns), ends[:-1])
