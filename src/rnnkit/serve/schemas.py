"""Request and answer shapes of the HTTP API: they make the OpenAPI schema and enforce the caps.

The answers carry the fields of the matching command's ``--json`` output
(predict, score, score --nbest, fill), so a script can move from the command
line to the server without renaming anything. Generation follows Hugging Face
text-generation-inference: ``generated_text``, and server-sent events of
``{"token": {...}, "generated_text": null}`` ending with the whole text.
"""

from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from rnnkit.serve import limits as L

Name = Annotated[str, Field(min_length=1, max_length=L.MAX_NAME_CHARS)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
# A field of a tab-separated n-best line (see `rnnkit score --nbest`): no tab, no line break.
NbestText = Annotated[str, Field(max_length=L.MAX_SENTENCE_CHARS, pattern=r"^[^\t\r\n]*$")]
# An utterance id: not empty, no surrounding space, not starting with '#' (a comment in the file form).
UttId = Annotated[str, Field(min_length=1, max_length=L.MAX_NAME_CHARS, pattern=r"^[^\s#]([^\t\r\n]*[^\s])?$")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt option is an error, not silently ignored

    model: Optional[Name] = Field(None, description="a model's id from /v1/models; default: the first that fits")


# --- errors and models -------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: int
    type: str
    message: str
    details: Optional[list] = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ModelInfo(BaseModel):
    id: str
    object: Literal["model"] = "model"
    kind: Literal["lm", "cloze", "ngram"] = Field(description="lm: next word; cloze: fill a blank; ngram: the baseline")
    vocab_size: int
    tokenizer: str
    architecture: dict = Field(description="cell, layers, hidden ... (an N-gram model: its order and counts)")
    training: dict = Field(description="how it was trained and its figures (valid_ppl, best_epoch ...)")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelInfo]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    models: list[ModelInfo]


# --- predict ---------------------------------------------------------------------------


class PredictRequest(Request):
    prefix: str = Field("", max_length=L.MAX_PREFIX_CHARS, description='e.g. "我昨天上学迟到了，老师批评了"')
    top: int = Field(10, ge=1, le=L.MAX_TOP)


class TokenProbability(BaseModel):
    token: str
    probability: float


class PredictResponse(BaseModel):
    model: str
    kind: str
    prefix: str
    tokens: list[str] = Field(description="the prefix as the model reads it (an N-gram model: the context it uses)")
    unknown: list[str] = Field(description="tokens of the prefix the model does not know")
    predictions: list[TokenProbability]


# --- score -----------------------------------------------------------------------------


class ScoreRequest(Request):
    sentences: list[Annotated[str, Field(max_length=L.MAX_SENTENCE_CHARS)]] = Field(
        min_length=1, max_length=L.MAX_SENTENCES, description="each scored on its own, from the start state")
    per_word: bool = Field(False, description="also the log10 probability of every token and the end")


class WordScore(BaseModel):
    token: str
    logprob: float = Field(description="log10 p(token | the words before it)")


class SentenceScore(BaseModel):
    line: int
    text: str
    tokens: int = Field(description="tokens scored, the sentence end included")
    oov: int
    logprob: float = Field(description="log10 probability of the sentence and its end")
    ppl: float
    words: Optional[list[WordScore]] = None


class ScoreTotal(BaseModel):
    sentences: int
    tokens: int
    logprob: float
    ppl: float


class ScoreResponse(BaseModel):
    model: str
    results: list[SentenceScore]
    total: ScoreTotal


# --- rescore ---------------------------------------------------------------------------


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: NbestText
    am_score: Optional[Finite] = Field(None, description="the recogniser's score, higher is better; all or none")


class Utterance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    utt: UttId
    candidates: list[Candidate] = Field(min_length=1, max_length=L.MAX_NBEST_CANDIDATES)


class Mix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ngram: Optional[Name] = Field(None, description="the N-gram model's id; default: the one loaded")
    weight: float = Field(0.5, ge=0.0, le=1.0, allow_inf_nan=False, alias="lambda",
                          description="the RNN's weight: P = λ P_rnn + (1 - λ) P_ngram per token")


class RescoreRequest(Request):
    nbest: list[Utterance] = Field(min_length=1, max_length=L.MAX_NBEST_CANDIDATES)
    lm_weight: Finite = 1.0
    am_weight: Finite = 1.0
    mix: Optional[Mix] = Field(None, description="mix the RNN with the N-gram model loaded with --ngram")


class RankedCandidate(BaseModel):
    rank: int
    text: str
    combined: float = Field(description="lm_weight * lm_logprob + am_weight * am_score")
    lm_logprob: float
    am_score: Optional[float]


class RankedUtterance(BaseModel):
    utt: str
    candidates: list[RankedCandidate]


class RescoreResponse(BaseModel):
    model: str
    results: list[RankedUtterance]


# --- fill ------------------------------------------------------------------------------


class FillRequest(Request):
    text: str = Field(max_length=L.MAX_PREFIX_CHARS, description='__ is one token, __N__ N tokens: "我打算__一部新手机。"')
    top: int = Field(10, ge=1, le=L.MAX_TOP)
    beam: Optional[int] = Field(None, ge=1, le=L.MAX_BEAM, description="beam width for a blank of several tokens")


class Filling(BaseModel):
    tokens: list[str]
    text: str
    probability: Optional[float] = Field(None, description="one blank token: the exact probability")
    pseudo_likelihood: Optional[float] = Field(None, description="several: the pseudo-likelihood (not normalised)")


class FillResponse(BaseModel):
    model: str
    text: str
    tokens: list[str]
    blank_tokens: int
    unknown: list[str]
    scoring: Literal["exact", "pseudo-likelihood"]
    predictions: list[Filling]


# --- generate --------------------------------------------------------------------------


class GenerateRequest(Request):
    prefix: str = Field("", max_length=L.MAX_PREFIX_CHARS)
    max_tokens: int = Field(50, ge=1, le=L.MAX_TOKENS)
    temperature: float = Field(1.0, ge=0.0, le=L.MAX_TEMPERATURE, allow_inf_nan=False,
                               description="0: always the most probable token")
    top_k: Optional[int] = Field(None, ge=1, description="sample among the k most probable tokens only")
    top_p: Optional[float] = Field(None, gt=0.0, le=1.0, allow_inf_nan=False,
                                   description="nucleus: sample among the most probable tokens that hold p of the mass")
    seed: Optional[int] = Field(None, ge=0, le=2**63 - 1, description="same seed, same text; default: a fresh one")
    stream: bool = Field(False, description="server-sent events, one per token, then one with the whole text")


class GenerateResponse(BaseModel):
    model: str
    generated_text: str = Field(description="the prefix and the sampled text, as `rnnkit generate` prints it")
    tokens: list[str] = Field(description="the sampled tokens")
    seed: int
