"""Sampling text from the model: the game played over and over.

At each step the softmax output o_t is a distribution over the next token; we
draw one token from it (sharpened or flattened by a temperature, optionally
cut to the k most probable), feed it back as the next input, and carry the
state. ``<eos>`` ends a line and the next one starts from it, as in training.
The draws come from one seeded generator: same seed, same text. Tokens are
handed out as they are drawn (``on_token``), so a long text shows at once, and
a Sampler draws them one call at a time, so that a server can run other
requests on the model between two tokens of a long text.
"""

import secrets

from rnnkit.backend import rng as make_rng, xp
from rnnkit.errors import OptionError
from rnnkit.lm.predict import next_log_probs, read_prefix
from rnnkit.lm.results import Generation
from rnnkit.lm.vocab import EOS


def check_sampling(max_tokens, temperature, top_k, top_p=None, num_samples=1):
    """OptionError for a sampling setting that makes no sense."""
    if max_tokens is None or max_tokens < 1:
        raise OptionError(f"{{max_tokens}} must be a positive integer, got {max_tokens}", "max_tokens")
    if temperature is None or not temperature >= 0 or temperature == float("inf"):
        raise OptionError(
            f"{{temperature}} must be 0 (always the most probable token) or positive, got {temperature}", "temperature"
        )
    if top_k is not None and top_k < 1:
        raise OptionError(f"{{top_k}} must be a positive integer, got {top_k}", "top_k")
    if top_p is not None and not 0 < top_p <= 1:
        raise OptionError(f"{{top_p}} must be in (0, 1], got {top_p}", "top_p")
    if num_samples is None or num_samples < 1:
        raise OptionError(f"{{num_samples}} must be a positive integer, got {num_samples}", "num_samples")


def sample_next(logp, rng, temperature=1.0, top_k=None, top_p=None):
    """One token id drawn from log-probabilities ``logp`` (vocab,).

    ``top_k``: among the k most probable tokens only; ``top_p`` (nucleus
    sampling, Holtzman et al. 2019): among the fewest most probable tokens
    whose probabilities (after the temperature) add up to at least p.
    """
    if temperature == 0:
        return int(xp.argmax(logp))
    # Shifted first: the best token scores 0 whatever the temperature, so a tiny
    # one (1e-310) sends the rest to -inf instead of giving inf - inf = nan.
    logp = logp.astype(xp.float64)
    with xp.errstate(over="ignore"):
        scores = (logp - logp.max()) / temperature
    if top_k is not None and top_k < scores.size:
        cut = xp.partition(scores, -top_k)[-top_k]
        scores = xp.where(scores >= cut, scores, -xp.inf)
    p = xp.exp(scores - scores.max())
    p /= p.sum()
    if top_p is not None and top_p < 1:
        order = xp.argsort(-p, kind="stable")
        # the token that reaches p is kept (reaching it to rounding: 0.5 + 0.3 reaches 0.8)
        keep = int(xp.searchsorted(xp.cumsum(p[order]), top_p - 1e-12)) + 1
        cut = xp.zeros_like(p)
        cut[order[:keep]] = p[order[:keep]]
        p = cut / cut.sum()
    return int(rng.choice(p.size, p=p))


def iter_ids(model, vocab, prefix_ids, max_tokens, rng, temperature=1.0, top_k=None, top_p=None):
    """Yield ``max_tokens`` sampled token ids following <eos> + prefix_ids, one as soon as it is drawn.

    The state is carried here, not in the model: other calls may use the model
    between two tokens (from the same thread, never at the same time).
    """
    logp = next_log_probs(model, vocab, prefix_ids)
    state = model.final_state  # after <eos> and the prefix
    for n in range(max_tokens):
        if n:  # the last token drawn, read: no step after the last one
            logp = model.last_log_probs(xp.array([[token]], dtype=xp.int32), state)[0]
            state = model.final_state
        token = sample_next(logp, rng, temperature, top_k, top_p)
        yield token


def generate_ids(model, vocab, prefix_ids, max_tokens, temperature=1.0, top_k=None, seed=None, top_p=None):
    """The ids of ``max_tokens`` sampled tokens following <eos> + prefix_ids."""
    check_sampling(max_tokens, temperature, top_k, top_p)
    return list(iter_ids(model, vocab, prefix_ids, max_tokens, make_rng(seed), temperature, top_k, top_p))


class TextStream:
    """Tokens to text piece by piece: words with spaces between; characters and jieba words without.

    ``<eos>`` becomes a line break. ``write`` gets each piece; the pieces of
    a token list joined are ``join_tokens`` of it.
    """

    def __init__(self, tokenizer, write):
        self.sep, self.write, self.line_start = (" " if tokenizer == "word" else ""), write, True

    def __call__(self, token):
        if token == EOS:
            self.write("\n")
            self.line_start = True
        else:
            self.write(token if self.line_start else self.sep + token)
            self.line_start = False


def join_tokens(tokens, tokenizer):
    """Text from tokens: words with spaces between; characters and jieba words without; <eos>: a line break."""
    pieces = []
    stream = TextStream(tokenizer, pieces.append)
    for token in tokens:
        stream(token)
    return "".join(pieces)


class Sampler:
    """A generation drawn one token per call: ``step()`` draws the next token and returns it
    (None once ``max_tokens`` are drawn), ``result()`` is the Generation of what is drawn.

    ``prefix_tokens``: the prefix cut by the tokenizer (the text starts with
    them); ``tokens``: those drawn so far; ``seed``. The same seed gives the
    same tokens as ``generate``. The settings and the prefix are checked here,
    before any model work. Between two steps the model may serve other calls
    (the sampler carries its own state), but a step, like any model call, must
    not run while another call runs on the same model.
    """

    def __init__(self, model, vocab, tokenizer, prefix="", max_tokens=50, temperature=1.0, top_k=None, seed=None,
                 top_p=None):
        check_sampling(max_tokens, temperature, top_k, top_p)
        self.prefix_tokens, ids, _ = read_prefix(prefix or "", tokenizer, vocab)
        if seed is None:
            seed = secrets.randbits(63)
        self.seed = seed if isinstance(seed, int) else None
        self.tokens = []
        self._vocab, self._tokenizer, self._prefix = vocab, tokenizer, prefix or ""
        self._options = (temperature, top_k, top_p)
        self._ids = iter_ids(model, vocab, ids, max_tokens, make_rng(seed), temperature, top_k, top_p)

    def step(self):
        """The next token (the prefix is read on the first call), or None when all are drawn."""
        token_id = next(self._ids, None)
        if token_id is None:
            return None
        self.tokens.append(self._vocab.tokens[token_id])
        return self.tokens[-1]

    def __iter__(self):
        return iter(self.step, None)

    def result(self):
        """The prefix followed by the tokens drawn so far: a Generation."""
        text = join_tokens(self.prefix_tokens + self.tokens, self._tokenizer)
        return Generation(text, self._prefix, list(self.tokens), self.seed, *self._options)


def generate(model, vocab, tokenizer, prefix="", max_tokens=50, temperature=1.0, top_k=None, seed=None,
             top_p=None, on_token=None):
    """The prefix followed by the sampled text: a Generation (a str, with the tokens and the seed).

    Without a seed one is drawn and recorded, so that any text can be made again.
    ``on_token``: called with each token as it comes, the prefix's tokens first
    (the text is what TextStream makes of them), for output that streams.
    """
    sampler = Sampler(model, vocab, tokenizer, prefix, max_tokens, temperature, top_k, seed, top_p)
    on_token = on_token or (lambda token: None)
    for token in sampler.prefix_tokens:
        on_token(token)
    for token in sampler:
        on_token(token)
    return sampler.result()
