"""The loaded models, and what each endpoint asks of them, as JSON-ready dicts.

Only the public API is used: rnnkit.LanguageModel, rnnkit.ClozeLM and the
N-gram model object (and rnnkit.lm.score's n-best reading and ranking, which
LanguageModel.rescore_nbest is made of). Each answer has the fields of the matching command's
``--json`` output, so the server and the command line agree (the tests check
it). Nothing here knows about HTTP; the paths it opens are the ones given on
the command line, never one from a request.
"""

import os
from dataclasses import dataclass

from rnnkit.errors import RnnkitError
from rnnkit.lm.score import rank_nbest, read_nbest
from rnnkit.parallel import measured_blas_threads

# Training options that name files on the server's disk: not shown to clients.
PRIVATE_TRAINING_KEYS = ("corpus", "valid", "vocab")


class ModelNotFound(RnnkitError):
    """No loaded model has the requested id (HTTP 404)."""


@dataclass
class Loaded:
    """One model the server holds: ``kind`` lm, cloze or ngram; ``model`` the API object."""

    id: str
    kind: str
    model: object
    info: dict
    path: str = None  # as given on the command line (never shown to clients)


def _lm_info(model_id, kind, lm):
    config = lm.config
    training = {k: v for k, v in (config.get("training") or {}).items() if k not in PRIVATE_TRAINING_KEYS}
    return {"id": model_id, "kind": kind, "vocab_size": len(lm.vocab), "tokenizer": lm.tokenizer,
            "architecture": dict(config.get("model") or {}), "training": training}


def _ngram_info(model_id, ngram):
    try:
        summary = ngram.training_summary()
    except RnnkitError:  # an ARPA file from elsewhere: no record of its training
        training = {}
    else:
        training = {"discount": summary.discount, "sentences": summary.sentences, "tokens": summary.tokens,
                    "discounts": summary.discounts}
    return {"id": model_id, "kind": "ngram", "vocab_size": len(ngram.vocab), "tokenizer": ngram.tokenizer,
            "architecture": {"order": ngram.order, "ngrams": ngram.counts(), "open_vocabulary": ngram.open_vocabulary},
            "training": training}


def load_model_dir(path, verify=True):
    """(kind, model) of a model directory: a left-to-right language model, else a cloze model."""
    from rnnkit import ClozeLM, LanguageModel

    try:
        return "lm", LanguageModel.load(path, verify)
    except RnnkitError as first:
        try:
            return "cloze", ClozeLM.load(path, verify)
        except RnnkitError:
            raise first from None


def _nbest_lines(nbest):
    """The request's n-best list as the lines of `rnnkit score --nbest`'s file (utt, text, score)."""
    return [f"{u['utt']}\t{c['text']}" + ("" if c.get("am_score") is None else f"\t{c['am_score']!r}")
            for u in nbest for c in u["candidates"]]


def _unique_id(path, taken):
    base = os.path.basename(os.path.normpath(path)) or "model"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


class Engine:
    """The models by id, in the order given; the first of each kind is the default for its endpoints."""

    def __init__(self, entries):
        if not entries:
            raise RnnkitError("no model to serve")
        self.models = {e.id: e for e in entries}

    @classmethod
    def load(cls, model_dirs, ngram_path=None, verify=True):
        """The models of ``model_dirs`` (``verify``: as LanguageModel.load's) and the N-gram model."""
        entries = []
        for path in model_dirs:
            kind, model = load_model_dir(path, verify)
            model_id = _unique_id(path, {e.id for e in entries})
            entries.append(Loaded(model_id, kind, model, _lm_info(model_id, kind, model)))
        if ngram_path is not None:
            from rnnkit.ngram import NgramModel

            model_id = _unique_id(ngram_path, {e.id for e in entries})
            ngram = NgramModel.load(ngram_path)
            entries.append(Loaded(model_id, "ngram", ngram, _ngram_info(model_id, ngram), ngram_path))
        return cls(entries)

    def infos(self):
        return [e.info for e in self.models.values()]

    def pick(self, model_id, kinds, what):
        """The model ``model_id`` (or the first loaded one of ``kinds``), checked to be one of ``kinds``."""
        if model_id is None:
            for e in self.models.values():
                if e.kind in kinds:
                    return e
            raise ModelNotFound(f"no {what} is loaded (kinds {', '.join(kinds)})")
        if model_id not in self.models:
            raise ModelNotFound(f"no model {model_id!r}; loaded: {', '.join(self.models)}")
        e = self.models[model_id]
        if e.kind not in kinds:
            raise RnnkitError(f"{model_id!r} is a {e.kind} model; {what} needs one of kind {', '.join(kinds)}")
        return e

    # --- the work (run on the model thread, see batching.py) -------------------

    @staticmethod
    def predict(entry, prefix, top):
        """`rnnkit predict --json` (or `rnnkit ngram predict --json`): tokens, unknown, predictions."""
        r = entry.model.predict(prefix, top)
        if entry.kind == "ngram":  # the N-gram's Prediction names them after what it uses: its context
            return {"prefix": prefix, "tokens": r.context, "unknown": r.out_of_vocabulary,
                    "predictions": [{"token": p.token, "probability": p.probability} for p in r.predictions]}
        return r.to_json()

    # Scoring in three steps, so that the model thread does the model's work alone, for many
    # requests at once: the text is cut and looked up before (encode, nbest_entries), the rows
    # are made after (score_rows, ranked), both off the model thread; in between,
    # LanguageModel.id_logprobs runs on it, on every waiting request's sentences together.

    @staticmethod
    def encode(entry, sentences):
        """The sentences cut and looked up (LanguageModel.encode: no model work)."""
        return entry.model.encode(sentences)

    @staticmethod
    def log_probs(entry, id_lists):
        """The model's step, on the model thread, for every sentence of a batch (LanguageModel.id_logprobs).

        BLAS's threads are measured per batch size (rnnkit.parallel.measured_blas_threads): a
        lone request's products are small, a batch of many requests' large, and which gains
        from a second thread depends on that and on what else the machine runs."""
        positions = sum(len(ids) + 1 for ids in id_lists)
        with measured_blas_threads(("score", entry.id), positions):
            return entry.model.id_logprobs(id_lists)

    @staticmethod
    def score_rows(encoded, log_probs, per_word=False):
        """`rnnkit score --json` rows (line numbered from 1) from the model's answer, with the words if asked."""
        rows = []
        for r in encoded.scores(log_probs, per_word):
            row = {"line": r.line, "text": r.text, "tokens": r.tokens, "oov": r.oov, "logprob": r.logprob,
                   "ppl": r.ppl}
            if per_word:
                row["words"] = [{"token": w["token"], "logprob": w["log10prob"]} for w in r.per_word]
            rows.append(row)
        return rows

    @staticmethod
    def nbest_entries(entry, nbest):
        """(entries [(utt, text, am_score)], their texts encoded) of an n-best list, checked as
        `rnnkit score --nbest` checks its file."""
        entries = read_nbest(_nbest_lines(nbest), "the n-best list")
        return entries, entry.model.encode([text for _, text, _ in entries])

    @staticmethod
    def ranked(entries, encoded, log_probs, lm_weight, am_weight):
        """`rnnkit score --nbest --json`: each utterance's candidates, best first."""
        scores = [r.logprob for r in encoded.scores(log_probs)]
        return [u.to_json() for u in rank_nbest(entries, scores, lm_weight, am_weight)]

    def rescore_mixed(self, entry, nbest, lm_weight, am_weight, mix):
        """`rnnkit score --nbest --json --mix` (on the model thread, whole): the N-gram model loaded
        at start, so that no file is read for a request."""
        ngram = self.pick(mix.get("ngram"), ("ngram",), "mixing").model
        ranked = entry.model.rescore_nbest(_nbest_lines(nbest), lm_weight, am_weight, source="the n-best list", mix=ngram,
                                           lam=mix["lambda"])
        return [u.to_json() for u in ranked]

    @staticmethod
    def fill(entry, text, top, beam=None):
        """`rnnkit fill --json`: the blank's fillings, the exact probability or the pseudo-likelihood."""
        return entry.model.fill(text, top, beam).to_json()

    @staticmethod
    def sampler(entry, prefix, max_tokens, temperature, top_k, top_p, seed):
        """`rnnkit generate --seed S`, one token per step() (a rnnkit.lm.generate.Sampler): each step is a
        job of its own on the model thread. Checks the settings and the prefix; no model work yet."""
        return entry.model.sampler(prefix, max_tokens, temperature, top_k, seed, top_p=top_p)
