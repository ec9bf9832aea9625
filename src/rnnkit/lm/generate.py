"""Sampling text from the model: the game played over and over.

At each step the softmax output o_t is a distribution over the next token; we
draw one token from it (sharpened or flattened by a temperature, optionally
cut to the k most probable), feed it back as the next input, and carry the
state. ``<eos>`` ends a line and the next one starts from it, as in training.
The draws come from one seeded generator: same seed, same text.
"""

import secrets

from rnnkit.backend import rng as make_rng, xp
from rnnkit.errors import OptionError
from rnnkit.lm.predict import next_log_probs, read_prefix
from rnnkit.lm.results import Generation
from rnnkit.lm.vocab import EOS


def check_sampling(max_tokens, temperature, top_k):
    """OptionError for a sampling setting that makes no sense."""
    if max_tokens is None or max_tokens < 1:
        raise OptionError(f"{{max_tokens}} must be a positive integer, got {max_tokens}", "max_tokens")
    if temperature is None or not temperature >= 0 or temperature == float("inf"):
        raise OptionError(
            f"{{temperature}} must be 0 (always the most probable token) or positive, got {temperature}", "temperature"
        )
    if top_k is not None and top_k < 1:
        raise OptionError(f"{{top_k}} must be a positive integer, got {top_k}", "top_k")


def sample_next(logp, rng, temperature=1.0, top_k=None):
    """One token id drawn from log-probabilities ``logp`` (vocab,)."""
    if temperature == 0:
        return int(xp.argmax(logp))
    scores = logp.astype(xp.float64) / temperature
    if top_k is not None and top_k < scores.size:
        cut = xp.partition(scores, -top_k)[-top_k]
        scores = xp.where(scores >= cut, scores, -xp.inf)
    p = xp.exp(scores - scores.max())
    p /= p.sum()
    return int(rng.choice(p.size, p=p))


def generate_ids(model, vocab, prefix_ids, max_tokens, temperature=1.0, top_k=None, seed=None):
    """The ids of ``max_tokens`` sampled tokens following <eos> + prefix_ids."""
    check_sampling(max_tokens, temperature, top_k)
    rng = make_rng(seed)
    logp = next_log_probs(model, vocab, prefix_ids)
    state = model.final_state  # after <eos> and the prefix
    out = []
    for _ in range(max_tokens):
        token = sample_next(logp, rng, temperature, top_k)
        out.append(token)
        logp = model.log_probs(xp.array([[token]], dtype=xp.int32), state)[-1, 0]
        state = model.final_state
    return out


def join_tokens(tokens, tokenizer):
    """Text from tokens: words with spaces between; characters and jieba words without.

    ``<eos>`` becomes a line break.
    """
    sep = " " if tokenizer == "word" else ""
    lines, line = [], []
    for tok in tokens:
        if tok == EOS:
            lines.append(sep.join(line))
            line = []
        else:
            line.append(tok)
    lines.append(sep.join(line))
    return "\n".join(lines)


def generate(model, vocab, tokenizer, prefix="", max_tokens=50, temperature=1.0, top_k=None, seed=None):
    """The prefix followed by the sampled text: a Generation (a str, with the tokens and the seed).

    Without a seed one is drawn and recorded, so that any text can be made again.
    """
    check_sampling(max_tokens, temperature, top_k)
    tokens, ids, _ = read_prefix(prefix or "", tokenizer, vocab)
    if seed is None:
        seed = secrets.randbits(63)
    sampled = vocab.decode(generate_ids(model, vocab, ids, max_tokens, temperature, top_k, seed))
    return Generation(join_tokens(tokens + sampled, tokenizer), prefix or "", sampled,
                      seed if isinstance(seed, int) else None, temperature, top_k)
