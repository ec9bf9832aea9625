"""The article's game (docs/article.md §1): the most likely next tokens after a prefix.

"我昨天上学迟到了，老师批评了____": the prefix is read from the start state,
token by token, and the output layer's softmax at the last step is the
distribution of the next token over the whole dictionary. Only that step's
is computed: the recurrent layers read the prefix, and the output layer (a
product with the whole dictionary's weights) runs once.
"""

from rnnkit.backend import xp
from rnnkit.errors import OptionError, RnnkitError
from rnnkit.lm.data import encode_sentence
from rnnkit.lm.results import Prediction


def check_top(top, option="top"):
    """OptionError unless ``top`` (how many answers) is a positive integer."""
    if top is None or top < 1:
        raise OptionError(f"{{{option}}} must be a positive integer, got {top}", option)


def next_log_probs(model, vocab, ids):
    """log p(next token | <eos> ids) over the dictionary, (vocab,), float64.

    Leaves ``model.final_state`` at the state after the prefix (generation goes on from there).
    """
    model.eval()
    context = xp.concatenate([xp.array([vocab.eos_id], dtype=xp.int32), ids.astype(xp.int32, copy=False)])
    logp = model.last_log_probs(context[:, None])[0]  # the output layer at the last step only
    return logp.astype(xp.float64)


def read_prefix(text, tokenizer, vocab, allow_empty=True):
    """(tokens, ids, unknown tokens) of a prefix; RnnkitError when every token is unknown.

    A prefix of unknown words only would make the model answer from <unk>s: a
    guess about nothing. An empty prefix is allowed: it asks for the first
    token of a sentence.
    """
    tokens, ids = encode_sentence(text, tokenizer, vocab)
    unknown = [t for t in tokens if t not in vocab]
    if tokens and len(unknown) == len(tokens):
        shown = " ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise RnnkitError(f"every token of the prefix is unknown to the model ({shown}): nothing to predict from")
    if not tokens and not allow_empty:
        raise RnnkitError("the prefix is empty")
    return tokens, ids, unknown


def top_k(logp, vocab, k):
    """The k most probable tokens as [(token, probability)], most probable first."""
    check_top(k)
    k = min(k, logp.size)
    idx = xp.argpartition(-logp, k - 1)[:k]
    idx = idx[xp.argsort(-logp[idx], kind="stable")]
    return [(vocab.tokens[i], float(xp.exp(logp[i]))) for i in idx]


def predict(model, vocab, tokenizer, prefix, k=10):
    """A Prediction for the text ``prefix``: its tokens, the unknown ones, [(token, p), ...]."""
    tokens, ids, unknown = read_prefix(prefix, tokenizer, vocab)
    return Prediction(prefix, tokens, unknown, top_k(next_log_probs(model, vocab, ids), vocab, k))
