"""The loaded models, and what each endpoint asks of them, as JSON-ready dicts.

Only the public API is used: rnnkit.LanguageModel, rnnkit.ClozeLM and the
N-gram model object. Each answer has the fields of the matching command's
``--json`` output, so the server and the command line agree (the tests check
it). Nothing here knows about HTTP; the paths it opens are the ones given on
the command line, never one from a request.
"""

import math
import os
from dataclasses import dataclass

from rnnkit.errors import RnnkitError

LOG10_E = 1.0 / math.log(10.0)
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

    @staticmethod
    def score(entry, sentences, per_word=False):
        """`rnnkit score --json`: one row per sentence (line numbered from 1), with its words if asked."""
        lm = entry.model
        rows = [r.to_json() for r in lm.score(list(sentences))]
        if per_word:
            from rnnkit.lm.tokenize import get_tokenizer

            cut = get_tokenizer(lm.tokenizer)
            token_lists = [cut(s) for s in sentences]
            for row, tokens, logp in zip(rows, token_lists, lm.token_logprobs(token_lists)):
                row["words"] = [{"token": t, "logprob": float(x) * LOG10_E}
                                for t, x in zip(tokens + ["<eos>"], logp)]
        return rows

    def rescore(self, entry, nbest, lm_weight, am_weight, mix=None):
        """`rnnkit score --nbest --json [--mix]`: each utterance's candidates, best first."""
        lines = [f"{u['utt']}\t{c['text']}" + ("" if c.get("am_score") is None else f"\t{c['am_score']!r}")
                 for u in nbest for c in u["candidates"]]
        options = {}
        if mix is not None:
            # the N-gram model loaded at start: no file is read for a request
            options = {"mix": self.pick(mix.get("ngram"), ("ngram",), "mixing").model, "lam": mix["lambda"]}
        ranked = entry.model.rescore_nbest(lines, lm_weight, am_weight, source="the n-best list", **options)
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
