"""``rnnkit.LanguageModel``: every command's power in one object, for the CLI, notebooks and servers.

    from rnnkit import LanguageModel

    lm = LanguageModel.train("train.txt", valid="valid.txt", out="my-model", hidden=200, epochs=5)
    lm = LanguageModel.load("my-model")
    lm.perplexity(["the cat sat on the mat"])
    lm.predict("我昨天上学迟到了，老师批评了", top=5)      # Prediction: [(token, probability), ...]
    lm.generate(prefix="the", max_tokens=30, seed=1)    # Generation: the text, with its seed
    lm.score(["a sentence", "another one"])             # [SentenceScore]: log10 probability and PPL per line
    lm.save("copy-of-model")

The commands call these methods and print what they return (rnnkit.lm.results:
typed results whose ``to_json()`` is the command's --json output). Bad
arguments raise rnnkit.errors.OptionError naming the keyword (``top``), never
a command-line flag. ``rnnkit.load(model_dir)`` opens any model directory:
a LanguageModel, or a ClozeLM for a cloze model.
"""

import math

from rnnkit.errors import OptionError, RnnkitError
from rnnkit.lm import io
from rnnkit.lm.data import encode_file, encode_lines
from rnnkit.lm.evaluate import (
    evaluate,
    evaluate_independent,
    line_log_probs,
    stream_log_probs,
    stream_nll,
    summary,
    summary_of_log_probs,
)
from rnnkit.lm.generate import Sampler, generate
from rnnkit.lm.model import RNNLM
from rnnkit.lm.tokenize import get_tokenizer, read_lines, split_lines
from rnnkit.lm.predict import check_top, predict
from rnnkit.lm.results import AdaptedEvaluation, Evaluation, MixEvaluation, RescoredNbest, WordScores
from rnnkit.lm.score import EncodedLines, rank_nbest, read_nbest, rescore_nbest, score_lines, sentence_log_probs


def check_weights(lm_weight, am_weight):
    """OptionError unless both n-best weights are finite numbers."""
    for name, value in (("lm_weight", lm_weight), ("am_weight", am_weight)):
        if not math.isfinite(value):
            raise OptionError(f"{{{name}}} must be a finite number", name)


def load(model_dir, verify=True):
    """The model in MODEL_DIR, whatever its task: a LanguageModel, or a rnnkit.lm.cloze.ClozeLM
    (``verify``: as LanguageModel.load's)."""
    from rnnkit.lm import cloze

    if cloze.model_task(model_dir) == cloze.TASK:
        return cloze.ClozeLM.load(model_dir, verify)
    return LanguageModel.load(model_dir, verify)


class LanguageModel:
    """A trained RNN language model with its dictionary and tokenizer.

    ``model`` (rnnkit.lm.model.RNNLM), ``vocab`` (rnnkit.lm.vocab.Vocab),
    ``tokenizer`` (word, char or jieba) and ``config`` (config.json's content).
    """

    def __init__(self, model, vocab, tokenizer, config=None):
        self.model, self.vocab, self.tokenizer = model, vocab, tokenizer
        self.config = config or {"task": "lm", "tokenizer": tokenizer, "model": model.config()}
        self.model.eval()

    # --- files -------------------------------------------------------------------

    @classmethod
    def load(cls, model_dir, verify=True):
        """Read MODEL_DIR, checking every file; RnnkitError with one clear line if anything is off.

        ``verify=False`` also accepts a config.json that names no SHA-256 of its files.
        """
        config, vocab, tokenizer, model = io.load_trained(
            model_dir, "lm", RNNLM.from_config, "a model",
            "{model_dir}: a {task!r} model, not a left-to-right language model", verify=verify,
        )
        return cls(model, vocab, tokenizer, config)

    def save(self, model_dir, force=False):
        """Write MODEL_DIR (config.json, vocab.json, weights.safetensors); refuses a non-empty one unless force."""
        io.check_model_dir_free(model_dir, force)
        config = {k: v for k, v in self.config.items() if k not in ("format", "format_version", "files")}
        io.save_model(model_dir, config, self.vocab.to_json(), {**self.model.params, **self.model.buffers()})

    @classmethod
    def train(cls, corpus, valid, out, resume=False, force=False, max_minutes=None, quiet=True, log=None, **options):
        """Train like `rnnkit train` (same options, as keywords) and return the best model.

        ``quiet`` (the default): nothing on stdout or stderr, no bar and no
        lines; MODEL_DIR/train.log has the lines. ``quiet=False``: the bar, and
        the lines printed. ``log``: a function that gets each line instead.

        With ``task="cloze"`` the result is a rnnkit.lm.cloze.ClozeLM (fill and
        evaluate), since a cloze model is no left-to-right language model.
        """
        from rnnkit.lm.train import train

        if log is None and not quiet:
            log = print
        train(corpus, valid, out, options, resume=resume, force=force, max_minutes=max_minutes, quiet=quiet, log=log)
        if options.get("task") == "cloze":
            from rnnkit.lm.cloze import ClozeLM

            return ClozeLM.load(out)
        return cls.load(out)

    # --- what the commands do ------------------------------------------------

    def evaluate(self, path, independent=False, dynamic=None, cache=None, tune_on=None, log=None):
        """`rnnkit eval`: perplexity, nats and bits per token, tokens, OOV rate of a text file ('-': stdin).

        The text is read as one stream, the state carried from line to line;
        ``independent``: each line from the start state instead (rnnlm's
        -independent; what ``score`` sums). An Evaluation; ``result["perplexity"]``
        reads it as the dict it once was.

        With ``dynamic`` (rnnkit.lm.adapt.DynamicEval) and/or ``cache`` (NeuralCache) the model
        adapts to the stream as it reads it (docs/adapt.md; the model itself is left as it was): an
        AdaptedEvaluation. ``tune_on``: a validation text to choose their settings on first (they
        are where the search starts); ``log``: a callable given a line per setting tried.
        """
        if dynamic is not None or cache is not None or tune_on is not None:
            from rnnkit.lm.adapt_score import evaluate_text

            _need_adapting(dynamic, cache, tune_on)
            if independent:
                raise OptionError("{independent} reads each line alone; {dynamic} and {cache} adapt over the "
                                  "stream", "independent", "dynamic", "cache")
            return evaluate_text(self, path, dynamic, cache, tune_on, log)
        enc = encode_file(path, self.tokenizer, self.vocab)
        if independent:
            r = evaluate_independent(self.model, enc, self.vocab)
        else:
            r = evaluate(self.model, enc, self.vocab.eos_id)
        return Evaluation(file=str(path), **r, independent=bool(independent), logprob=-r["nats_per_token"]
                          * r["tokens"] / math.log(10.0))

    def word_scores(self, path, independent=False, dynamic=None, cache=None, tune_on=None, log=None, mix=None,
                    lam=0.5, mix_tune_on=None):
        """`rnnkit eval --per-word`: (a WordScores per line, the evaluation of them all, whose
        totals are the exact sums of the per-token values).

        Each token's probability is that of the model ``evaluate`` / ``evaluate_mixed`` would
        evaluate with the same arguments: with ``dynamic`` and/or ``cache`` the adapted one
        (tuned on ``tune_on`` first), with ``mix`` (N-gram files; ``lam``, or the weights chosen
        by EM on ``mix_tune_on``) the mixture. The evaluation is then an AdaptedEvaluation, a
        MixEvaluation or an AdaptedMixEvaluation, its ``logprob`` the sum of the values.
        """
        adapting = dynamic is not None or cache is not None or tune_on is not None
        if adapting:
            _need_adapting(dynamic, cache, tune_on)
            if independent:
                raise OptionError("{independent} reads each line alone; {dynamic} and {cache} adapt over the "
                                  "stream", "independent", "dynamic", "cache")
        if mix is not None:
            return self._mixed_word_scores(path, mix, lam, mix_tune_on, dynamic, cache, tune_on, log)
        extra = {}
        if adapting:
            from rnnkit.lm.adapt_score import adapted_stream, tuned_settings

            dynamic, cache, tuned = tuned_settings(self, dynamic, cache, tune_on, log)  # before FILE is read
        lines = read_lines(path)
        enc = encode_lines(lines, self.tokenizer, self.vocab)
        if enc.lines == 0:
            raise RnnkitError(f"{path}: no text (the file is empty or holds only blank lines)")
        if adapting:
            logp, extra = adapted_stream(self, enc.ids, dynamic, cache, tuned, tune_on)
        elif independent:
            logp = line_log_probs(self.model, enc.ids, self.vocab)
        else:
            logp = stream_log_probs(self.model, enc.ids, self.vocab.eos_id)
        r = summary_of_log_probs(logp, enc.ids, enc.oov)
        log10 = (logp / math.log(10.0)).tolist()
        unk = (enc.ids == self.vocab.unk_id).tolist()
        cut, out, at = get_tokenizer(self.tokenizer), [], 0
        for number, line in enumerate(lines, 1):
            tokens = cut(line)
            if not tokens:
                continue
            n = len(tokens) + 1
            out.append(WordScores(number, line, tokens + ["<eos>"], log10[at : at + n], unk[at : at + n]))
            at += n
        result = AdaptedEvaluation if adapting else Evaluation
        evaluation = result(file=str(path), **r, independent=bool(independent), logprob=math.fsum(log10), **extra)
        return out, evaluation

    def _mixed_word_scores(self, path, mix, lam, mix_tune_on, dynamic, cache, tune_on, log):
        """word_scores with ``mix``: each token's log10 of the mixture, the evaluation evaluate_mixed's
        (the static RNN reads each line from its start there, as with ``independent``)."""
        from rnnkit.lm.mix import check_lambda, mixture_word_scores, ngram_list

        if mix_tune_on is None:
            check_lambda(lam)
        models = ngram_list(mix)
        if dynamic is not None or cache is not None or tune_on is not None:
            from rnnkit.lm.adapt_score import mixed_text

            r, text, weights = mixed_text(self, models, path, lam, dynamic, cache, tune_on, mix_tune_on, log,
                                          keep_text=True)
        else:
            r, text, weights = _static_mix(self, models, path, lam, mix_tune_on)
        words = mixture_word_scores(text, weights)
        r.logprob = math.fsum(v for w in words for v in w.log10probs)
        return words, r

    def evaluate_mixed(self, path, ngram, lam=0.5, tune_on=None, dynamic=None, cache=None, tune_adapting_on=None,
                       log=None):
        """`rnnkit eval --mix`: this model, the N-gram model(s) (ARPA or binary files) and their mixture on a text.

        ``ngram``: one file or a list (or NgramModels already loaded); ``lam``: the RNN's weight in [0, 1], the
        N-gram models sharing the rest equally; ``tune_on``: a held-out text to
        choose every weight on instead, by EM (SRILM's compute-best-mix).
        With ``dynamic`` and/or ``cache`` the RNN reads the text as one adapting stream (an
        AdaptedMixEvaluation); ``tune_adapting_on``: a validation text to choose their settings
        and then the weights on.
        """
        from rnnkit.lm.mix import check_lambda, ngram_list

        if tune_on is None:
            check_lambda(lam)
        if dynamic is not None or cache is not None or tune_adapting_on is not None:
            from rnnkit.lm.adapt_score import mixed_text

            _need_adapting(dynamic, cache, tune_adapting_on)
            return mixed_text(self, ngram, path, lam, dynamic, cache, tune_adapting_on, tune_on, log)
        return _static_mix(self, ngram_list(ngram), path, lam, tune_on)[0]

    def perplexity(self, text):
        """Perplexity of a text: a string (lines split at line breaks) or a list of lines."""
        lines = split_lines(text) if isinstance(text, str) else list(text)
        enc = encode_lines(lines, self.tokenizer, self.vocab)
        if enc.tokens == 0:
            raise RnnkitError("no text to measure")
        nll, n = stream_nll(self.model, enc.ids, self.vocab.eos_id)
        return summary(nll, n)["perplexity"]

    def predict(self, prefix, top=10):
        """The ``top`` most likely next tokens after ``prefix``: a Prediction.

        It is the list [(token, probability)] this method always returned, and
        carries the prefix's ``tokens`` and its ``unknown`` ones besides.
        RnnkitError when every token of the prefix is unknown.
        """
        check_top(top)
        return predict(self.model, self.vocab, self.tokenizer, prefix, top)

    def generate(self, prefix="", max_tokens=50, temperature=1.0, top_k=None, seed=None, top_p=None, on_token=None):
        """Sampled text (the prefix included): a Generation, which is that str; same seed, same text.

        Without a seed one is drawn, and ``result.seed`` gives the same text again.
        ``top_p``: nucleus sampling. ``on_token``: called with each token as it
        is drawn (the prefix's first), to show a long text as it comes.
        """
        return generate(self.model, self.vocab, self.tokenizer, prefix, max_tokens, temperature, top_k, seed, top_p,
                        on_token)

    def sampler(self, prefix="", max_tokens=50, temperature=1.0, top_k=None, seed=None, top_p=None):
        """``generate`` one token per call: a rnnkit.lm.generate.Sampler, whose ``step()`` draws the
        next token (None at the end) and ``result()`` is the Generation. Same seed, same text.
        For a server: other requests can use the model between two steps of a long text."""
        return Sampler(self.model, self.vocab, self.tokenizer, prefix, max_tokens, temperature, top_k, seed, top_p)

    def score(self, lines, per_word=False, dynamic=None, cache=None):
        """One SentenceScore per line (``line``, ``text``, ``tokens``, ``oov``, ``logprob`` (log10),
        ``ppl``, ``unk_targets``, ``logprob_without_unk``), each line from the start state;
        ``per_word``: with each token's log10 probability. ``row["logprob"]`` reads it as the dict it once was.
        With ``dynamic`` and/or ``cache`` (rnnkit.lm.adapt) the model learns from each line after
        scoring it, in order (the per-word values are the adapted model's)."""
        if isinstance(lines, str):
            lines = split_lines(lines)
        if dynamic is not None or cache is not None:
            from rnnkit.lm.adapt_score import score_lines_adaptive

            return score_lines_adaptive(self, list(lines), dynamic, cache, per_word=per_word)
        return score_lines(self.model, self.vocab, self.tokenizer, list(lines), per_word=per_word)

    def encode(self, lines):
        """The first step of ``score``, which needs no model (any thread): the lines cut and looked
        up, an rnnkit.lm.score.EncodedLines. ``id_logprobs(encoded.ids)`` is the model's step and
        ``encoded.scores(...)`` of its answer the rows ``score`` returns; a server runs the model
        step alone on its model thread, for many requests' sentences at once."""
        if isinstance(lines, str):
            lines = split_lines(lines)
        return EncodedLines.of(list(lines), self.tokenizer, self.vocab)

    def id_logprobs(self, id_lists):
        """The model's step of ``score``: for each sentence (an array of ids, without its end), the
        natural-log probabilities of its tokens and its end, one float64 array of len + 1 each.
        Each sentence from the start state; the output layer runs once per distinct prefix."""
        return sentence_log_probs(self.model, self.vocab, list(id_lists))

    def rescore_nbest_list(self, nbest, lm_weight=1.0, am_weight=1.0, mix=None, lam=0.5, tune_on=None, dynamic=None,
                           cache=None):
        """Re-score an rnnkit.lm.nbest.NbestList (any format): a RescoredNbest with the new LM
        log10 score of every candidate in the file's order and the utterances re-ranked.

        ``mix``: N-gram model file(s), or NgramModel(s) already loaded (rnnkit.ngram); the LM
        score is then the mixture, with ``lam``
        the RNN's weight (the N-gram models sharing the rest), or every weight
        chosen by EM on the held-out text ``tune_on``.
        ``dynamic``, ``cache`` (rnnkit.lm.adapt): the RNN adapts over the utterances in file
        order, learning from each one's first-ranked candidate (rnnkit.lm.adapt_score); the
        held-out text for the weights is then read the same way, line after line.
        """
        from rnnkit.lm.mix import check_lambda, mixture_sentence_log10probs, mixture_weights, ngram_list

        check_weights(lm_weight, am_weight)
        adapting = dynamic is not None or cache is not None
        texts = [h.text for h in nbest.hypotheses]
        weights, ngrams = None, []
        if mix is None:
            if tune_on is not None:
                raise OptionError("{tune_on} needs {mix}: N-gram models to mix with", "tune_on", "mix")
        else:
            if tune_on is None:
                check_lambda(lam)
            rnn_probs = None
            if adapting:
                from functools import partial

                from rnnkit.lm.adapt_score import lines_probs

                rnn_probs = partial(lines_probs, self, dynamic, cache)
            weights, ngrams = mixture_weights(self, ngram_list(mix), lam, tune_on, rnn_probs)
        if adapting:
            from rnnkit.lm.adapt_score import nbest_log10probs

            scores = nbest_log10probs(self, nbest, lm_weight, am_weight, dynamic, cache, ngrams, weights)
        elif mix is None:
            scores = [row.logprob for row in score_lines(self.model, self.vocab, self.tokenizer, texts)]
        else:
            scores = mixture_sentence_log10probs(self, ngrams, texts, weights, nbest.source)
        ranked = rank_nbest(nbest.entries(), scores, lm_weight, am_weight)
        return RescoredNbest(nbest, scores, ranked, None if weights is None else [float(w) for w in weights])

    def rescore_nbest(self, lines, lm_weight=1.0, am_weight=1.0, source="<n-best>", mix=None, lam=0.5,
                      dynamic=None, cache=None):
        """Re-rank n-best lines ('utt_id<TAB>text[<TAB>score]'; see rnnkit.lm.score): one NbestResult
        per utterance, candidates best first; each unpacks as (utt, candidates).

        ``mix``: N-gram file(s) (ARPA or binary), or NgramModel(s) already loaded (rnnkit.ngram: a
        server loads them once, not for every request); the LM score is then this model mixed
        with them, ``lam`` the RNN's weight.
        ``dynamic``, ``cache`` (rnnkit.lm.adapt): the model adapts over the utterances in file order,
        learning from each one's first-ranked candidate (rnnkit.lm.adapt_score).
        """
        check_weights(lm_weight, am_weight)
        if mix is None and dynamic is None and cache is None:
            return rescore_nbest(self.model, self.vocab, self.tokenizer, list(lines), source, lm_weight, am_weight)
        from rnnkit.lm.nbest import read_nbest_list

        nbest = read_nbest_list(list(lines), source, format="tsv")
        return self.rescore_nbest_list(nbest, lm_weight, am_weight, mix=mix, lam=lam, dynamic=dynamic,
                                       cache=cache).results

    def tune_adaptation(self, valid, dynamic=None, cache=None, log=None):
        """(DynamicEval, NeuralCache, {"perplexity", "trials"}) chosen on the validation text ``valid``
        (rnnkit.lm.adapt.tune): ``dynamic`` and ``cache`` say what to tune and where to start."""
        from rnnkit.lm.adapt import tune

        _need_adapting(dynamic, cache, valid)
        ids = encode_file(str(valid), self.tokenizer, self.vocab).ids
        return tune(self.model, ids, self.vocab.eos_id, dynamic, cache, log)

    def token_logprobs(self, token_lists):
        """Natural-log probabilities per token of each sentence (token lists), the
        final <eos> last: one array of len + 1 per sentence (for mixing with an N-gram)."""
        import numpy

        ids = [numpy.array(self.vocab.encode(t), dtype=numpy.int32) for t in token_lists]
        return sentence_log_probs(self.model, self.vocab, ids)

    def __repr__(self):
        m = self.model.config()
        return (f"LanguageModel({m['cell']} {m['layers']}x{m['hidden']}, vocabulary {len(self.vocab)}, "
                f"tokenizer {self.tokenizer})")


def _static_mix(lm, models, path, lam, tune_on):
    """(MixEvaluation, the text's MixedText, the weights) of the RNN, read line by line, mixed with
    ``models``: ``lam`` the RNN's weight, or every weight chosen by EM on ``tune_on``."""
    from rnnkit.lm.mix import mixture_report

    report, text, weights = mixture_report(lm, models, str(path), lam=lam,
                                           tune_path=None if tune_on is None else str(tune_on))
    report["lam"] = report.pop("lambda")
    return MixEvaluation(**report), text, weights


def _need_adapting(dynamic, cache, tune_on):
    if tune_on is not None and dynamic is None and cache is None:
        raise OptionError("{tune} chooses the settings of dynamic evaluation and the cache: give {dynamic} or "
                          "{cache} as well", "tune", "dynamic", "cache")
