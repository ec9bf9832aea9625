"""What the API returns: one dataclass per answer, holding every field a front end shows.

A front end (the CLI, an HTTP server, a worker) prints or sends these and
computes nothing itself. ``to_json()`` gives the plain dict that the
command's ``--json`` prints (``json.dumps(result.to_json())``), keys in the
same order.

Backward compatibility: each result also reads like the plain data the API
returned before it had types, so code written against the README keeps
working. SentenceScore, Evaluation, ClozeEvaluation and Candidate answer
``result["key"]`` like the dicts they were; Prediction is the list of
(token, probability) pairs ``lm.predict`` returned; a Filling unpacks as
(tokens, probability); an NbestResult as (utt, candidates); a Generation is
the generated text itself (a str).
"""

import math
from dataclasses import asdict, dataclass, field


class _Keys:
    """``result["name"]``, ``"name" in result``, ``keys()``, iteration over the keys: a read-only dict's face."""

    def to_json(self):
        return asdict(self)

    def keys(self):
        return self.to_json().keys()

    def __getitem__(self, key):
        return self.to_json()[key]

    def get(self, key, default=None):
        return self[key] if key in self.to_json() else default

    def __contains__(self, key):
        return key in self.to_json()

    def __iter__(self):
        return iter(self.keys())


class _Pair:
    """Unpacks as the two values named by ``_pair``: ``a, b = result``, ``result[0]``."""

    _pair = ()

    def _values(self):
        return tuple(getattr(self, name) for name in self._pair)

    def __iter__(self):
        return iter(self._values())

    def __getitem__(self, i):
        return self._values()[i]

    def __len__(self):
        return len(self._pair)


# --- the article's game: next tokens --------------------------------------------


@dataclass
class Prediction:
    """The most likely next tokens after a prefix (``LanguageModel.predict``).

    ``prefix``: the text asked about; ``tokens``: how the model cut it;
    ``unknown``: the tokens it read as <unk>; ``predictions``: [(token,
    probability)], most probable first. As a sequence it is ``predictions``.
    """

    prefix: str
    tokens: list
    unknown: list
    predictions: list

    def to_json(self):
        return {"prefix": self.prefix, "tokens": list(self.tokens), "unknown": list(self.unknown),
                "predictions": [{"token": t, "probability": p} for t, p in self.predictions]}

    def __iter__(self):
        return iter(self.predictions)

    def __len__(self):
        return len(self.predictions)

    def __getitem__(self, i):
        return self.predictions[i]


@dataclass
class Generation(str):
    """Sampled text (``LanguageModel.generate``): the prefix followed by the sampled tokens, as a str.

    ``text`` (the same string), ``prefix``, ``tokens`` (the sampled tokens,
    <eos> included where a line ended), ``seed`` (the seed that gives this text
    again, drawn when none was asked for), ``temperature``, ``top_k``, ``top_p``.
    """

    text: str
    prefix: str
    tokens: list
    seed: int
    temperature: float = 1.0
    top_k: int = None
    top_p: float = None

    def __new__(cls, text, *args, **kwargs):
        return super().__new__(cls, text)

    # a str compares and hashes as its text, whatever else it carries
    __eq__, __ne__, __hash__ = str.__eq__, str.__ne__, str.__hash__

    def __repr__(self):
        return f"Generation({self.text!r}, seed={self.seed})"

    def to_json(self):
        return asdict(self)


# --- perplexity ------------------------------------------------------------------


@dataclass
class Evaluation(_Keys):
    """Perplexity of a text (``LanguageModel.evaluate``): the numbers of ``rnnkit eval``.

    ``perplexity`` = e^nats_per_token over ``tokens`` predictions (<eos>
    included); ``oov`` tokens were outside the dictionary (``oov_rate`` of the
    tokens), ``unk_tokens`` targets were <unk>, and ``perplexity_without_unk``
    leaves those targets out (KenLM's "excluding OOVs").
    """

    file: str
    perplexity: float
    nats_per_token: float
    bits_per_token: float
    tokens: int
    oov: int
    oov_rate: float
    unk_tokens: int
    perplexity_without_unk: float
    independent: bool = False  # each line from the start state (rnnlm's -independent), else one stream
    logprob: float = None  # log10 P of the text (with --per-word: the exact sum of the per-word values)

    def to_json(self):
        d = asdict(self)
        if d["logprob"] is None:
            del d["logprob"]
        return d


@dataclass
class WordScores(_Keys):
    """One line token by token (``LanguageModel.word_scores``): its tokens, <eos> last,
    the log10 probability of each, and which were <unk> targets; ``logprob`` is
    their exact sum (math.fsum)."""

    line: int
    text: str
    tokens: list
    log10probs: list
    unk: list

    @property
    def logprob(self):
        return math.fsum(self.log10probs)

    def to_json(self):
        return {"line": self.line, "text": self.text, "logprob": self.logprob,
                "per_word": [{"token": t, "log10prob": p, "unk": u}
                             for t, p, u in zip(self.tokens, self.log10probs, self.unk)]}


@dataclass
class ClozeEvaluation(_Keys):
    """A cloze model's score on a text (``ClozeLM.evaluate``): every token filled from both sides of its line.

    ``top1`` / ``top5``: the share of tokens whose answer is the model's most
    likely / among its 5 most likely; ``lines``: lines read (their <eos> are
    context, not predictions).
    """

    file: str
    perplexity: float
    nats_per_token: float
    bits_per_token: float
    tokens: int
    top1: float
    top5: float
    oov: int
    oov_rate: float
    lines: int
    task: str = "cloze"

    def to_json(self):
        d = asdict(self)
        return {"file": d.pop("file"), "task": d.pop("task"), **d}


@dataclass
class MixEvaluation(_Keys):
    """The RNN, an N-gram model and their mixture on the same tokens (``LanguageModel.evaluate_mixed``).

    ``lam`` is the RNN's weight; with tuning, ``tuned_on`` names the text it
    was chosen on and ``valid_mix_perplexity`` is the mixture's perplexity there.
    """

    file: str
    tokens: int
    lam: float
    rnn_perplexity: float
    ngram_perplexity: float
    mix_perplexity: float
    tuned_on: str = None
    valid_mix_perplexity: float = None
    # With and without the <unk> targets; several N-gram models (weights: the RNN's first).
    unk_tokens: int = 0
    rnn_perplexity_without_unk: float = None
    ngram_perplexity_without_unk: float = None
    mix_perplexity_without_unk: float = None
    models: list = field(default_factory=list)
    weights: list = field(default_factory=list)
    ngram_perplexities: list = field(default_factory=list)
    ngram_perplexities_without_unk: list = field(default_factory=list)
    em_iterations: int = None
    logprob: float = None  # with --per-word: log10 P of the text under the mixture, the exact sum of the values

    def to_json(self):
        head = {"tuned_on": self.tuned_on, "valid_mix_perplexity": self.valid_mix_perplexity} if self.tuned_on else {}
        tail = {k: v for k, v in asdict(self).items() if k not in _MIX_HEAD and v is not None}
        return {**head, "file": self.file, "tokens": self.tokens, "lambda": self.lam,
                "rnn_perplexity": self.rnn_perplexity, "ngram_perplexity": self.ngram_perplexity,
                "mix_perplexity": self.mix_perplexity, **tail}


_MIX_HEAD = ("file", "tokens", "lam", "rnn_perplexity", "ngram_perplexity", "mix_perplexity", "tuned_on",
             "valid_mix_perplexity")


@dataclass
class AdaptedEvaluation(Evaluation):
    """``LanguageModel.evaluate`` with dynamic evaluation and/or the neural cache (rnnkit.lm.adapt):
    Evaluation's numbers, the settings used (``dynamic``, ``cache``: dicts or None), the time
    (``seconds``, ``tokens_per_second``) and, when they were chosen on a validation text,
    ``tuned_on`` and the ``valid_perplexity`` they reached there."""

    dynamic: dict = None
    cache: dict = None
    seconds: float = None
    tokens_per_second: float = None
    tuned_on: str = None
    valid_perplexity: float = None


@dataclass
class AdaptedMixEvaluation(MixEvaluation):
    """``LanguageModel.evaluate_mixed`` with an adapting RNN: MixEvaluation's numbers (the RNN's is
    then that of the text read as one adapting stream), the settings used, and with tuning the
    adapted RNN's ``valid_perplexity``."""

    dynamic: dict = None
    cache: dict = None
    valid_perplexity: float = None

    def to_json(self):
        tuned = {"valid_perplexity": self.valid_perplexity} if self.tuned_on else {}
        return {**super().to_json(), **tuned, "dynamic": self.dynamic, "cache": self.cache}


# --- sentences and n-best lists --------------------------------------------------


@dataclass
class SentenceScore(_Keys):
    """One line scored from the start state (``LanguageModel.score``).

    ``line``: its number (from 1); ``tokens``: predictions, its <eos> included;
    ``oov``: tokens outside the dictionary; ``logprob``: log10 P(line);
    ``ppl`` = 10^(-logprob / tokens).
    """

    line: int
    text: str
    tokens: int
    oov: int
    logprob: float
    ppl: float
    unk_targets: int = 0  # predictions of <unk> (words outside the dictionary, or a literal <unk>)
    logprob_without_unk: float = None  # log10 P of the other predictions
    per_word: list = None  # with score --per-word: {token, log10prob, unk} of each prediction, <eos> last

    def to_json(self):
        d = asdict(self)
        if d["per_word"] is None:
            del d["per_word"]
        return d


@dataclass
class Candidate(_Keys):
    """One candidate of an n-best list, after re-ranking.

    ``combined`` = lm_weight * lm_logprob + am_weight * am_score;
    ``am_score`` is None when the list has no recogniser scores; ``rank`` from 1.
    """

    text: str
    lm_logprob: float
    am_score: float
    combined: float
    rank: int = 0


@dataclass
class NbestResult(_Pair):
    """One utterance's candidates, best first (``LanguageModel.rescore_nbest``); unpacks as (utt, candidates)."""

    utt: str
    candidates: list = field(default_factory=list)
    _pair = ("utt", "candidates")

    @property
    def best(self):
        return self.candidates[0]

    def to_json(self):
        return {"utt": self.utt, "candidates": [c.to_json() for c in self.candidates]}


@dataclass
class RescoredNbest:
    """An n-best list re-scored (``LanguageModel.rescore_nbest_list``): the list as read
    (rnnkit.lm.nbest.NbestList), the new LM log10 score of each candidate in the file's
    order, the NbestResults (utterances re-ranked, best first) and the mixture weights
    used (the RNN's first; None without --mix)."""

    nbest: object
    lm_scores: list
    results: list
    weights: list = None


# --- the cloze game: filling blanks ------------------------------------------------


@dataclass
class Filling(_Pair):
    """One filling of the blank(s): ``tokens``, ``text`` (joined as the tokenizer writes) and its
    ``probability`` (exact for one blank token; the pseudo-likelihood for several). Unpacks as (tokens, probability)."""

    tokens: list
    text: str
    probability: float
    _pair = ("tokens", "probability")


@dataclass
class FillResult:
    """The most likely fillings of the blanks in a text (``ClozeLM.fill``).

    ``tokens``: the text's tokens with "__" at each blank token; ``positions``:
    the blank tokens' indexes in ``tokens``; ``unknown``: tokens read as <unk>;
    ``scoring``: "exact" (one blank token) or "pseudo-likelihood";
    ``predictions``: [Filling], best first. ``result["key"]`` reads these
    fields as the dict ``fill`` returned did.
    """

    text: str
    tokens: list
    positions: list
    unknown: list
    scoring: str
    predictions: list

    def __getitem__(self, key):
        return getattr(self, key)

    @property
    def blank_tokens(self):
        return len(self.positions)

    @property
    def shown(self):
        """The tokens with each blank shown as ____ (one token) or __N__ (N tokens in a row)."""
        out, run = [], 0
        for t in list(self.tokens) + [None]:
            if t == "__":
                run += 1
                continue
            if run:
                out.append("____" if run == 1 else f"__{run}__")
                run = 0
            if t is not None:
                out.append(t)
        return out

    def to_json(self):
        # one blank token: the exact probability; several: the pseudo-likelihood, which is not normalised
        key = "probability" if self.scoring == "exact" else "pseudo_likelihood"
        return {"text": self.text, "tokens": list(self.tokens), "blank_tokens": self.blank_tokens,
                "unknown": list(self.unknown), "scoring": self.scoring,
                "predictions": [{"tokens": list(f.tokens), "text": f.text, key: f.probability}
                                for f in self.predictions]}


# every result type, for front ends that register them (a server's schema, a worker's serialiser)
RESULTS = [Prediction, Generation, Evaluation, ClozeEvaluation, MixEvaluation, SentenceScore, Candidate,
           NbestResult, Filling, FillResult]
