"""The RNN language model of docs/article.md §7, built from the engine's layers.

    x_t  = E[id_t]                      the lookup that equals E^T one_hot(id_t)
    s_t  = f(U x_t + W s_{t-1} + b)     式2, in every layer of the stack (§4)
    o_t  = softmax(V s_t + c)           式1 with g = softmax
    L    = -(1/N) Σ_t log o_t[id_{t+1}] cross-entropy against the next token

With ``embed=0`` there is no separate embedding: the ids go straight into the
first recurrent layer, whose U x_t then is the column of U picked by the
one-hot x_t (Mikolov's RNNLM works this way). With an embedding the first
layer's U reads the dense vector E[id_t] instead; more parameters, and it can
be shared with the output layer (``tie_weights``: V = E, Press & Wolf 2017).

Dropout (Zaremba et al. 2014) acts on the non-recurrent connections only: on
the embedding's output, between layers (inside the engine's stack) and on the
last layer's output before V.

The output layer is one object with ``loss`` / ``backward_loss`` /
``token_log_probs`` / ``log_probs``, so the full softmax and the engine's
class-based softmax (Mikolov et al. 2011: P(w|h) = P(c(w)|h) P(w|c(w),h),
exact, about ten times cheaper to train on a 10k vocabulary; with ``head``
the most frequent words skip the factorisation, Grave et al.'s adaptive
softmax) are interchangeable, and a sampled one could join them. The cell is the engine's:
"rnn" (Elman), "lstm" or "gru".
"""

from rnnkit.backend import as_dtype, rng as make_rng, xp
from rnnkit.parallel import alongside
from rnnkit.nn import Dropout, Embedding, Module, RecurrentStack
from rnnkit.nn.class_softmax import ClassSoftmax
from rnnkit.nn.full_softmax import FullSoftmax
from rnnkit.nn.module import tree_leaves
from rnnkit.nn.stack import CELLS

SOFTMAXES = ("full", "class")


class LanguageNetwork(Module):
    """What the next-word model (RNNLM) and the cloze model (rnnkit.lm.cloze.ClozeModel) share.

    The parts around the recurrent stack (embedding, dropout, output layer),
    the configuration that config.json stores, the buffers saved with the
    weights, the rebuilding from both, and the random generators a checkpoint
    restores. A subclass sets ``self.cfg`` and calls ``_build_parts``.
    """

    def _check(self, cell, softmax, word_class, head):
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {', '.join(CELLS)}")
        if softmax not in SOFTMAXES:
            raise ValueError(f"unknown softmax {softmax!r}; expected one of {', '.join(SOFTMAXES)}")
        if softmax == "class" and word_class is None:
            raise ValueError("the class softmax needs word_class (see rnnkit.nn.class_softmax.frequency_classes)")
        if head and softmax != "class":
            raise ValueError(f"a head of {head} words is part of the class softmax, not of softmax {softmax!r}")

    @staticmethod
    def _head_entry(head):
        """The config's "head" entry: left out when 0, so a model without one has the config older versions read."""
        return {"head": head} if head else {}

    def _build_parts(self, rng, dtype, word_class, **stack_options):
        """Embedding, recurrent stack (``stack_options``: its form) and output layer, in this order."""
        cfg = self.cfg
        vocab_size, embed, dropout = cfg["vocab_size"], cfg["embed"], cfg["dropout"]
        self.embedding = None
        if embed:
            self.embedding = self.add_child("embedding", Embedding(vocab_size, embed, seed=rng, dtype=dtype))
        # Only the Elman cell has a choice of f and of initialisation scheme.
        cell_kwargs = dict(activation=cfg["activation"], init=cfg["init"]) if cfg["cell"] == "rnn" else {}
        self.rnn = self.add_child("rnn", RecurrentStack(
            embed or vocab_size, cfg["hidden"], num_layers=cfg["layers"], cell=cfg["cell"], dropout=dropout,
            seed=rng, dtype=dtype, **cell_kwargs, **stack_options))
        if cfg["softmax"] == "class":
            self.output = ClassSoftmax(self.rnn.output_size, vocab_size, word_class, seed=rng, dtype=dtype,
                                       head=cfg.get("head", 0))
        else:
            self.output = FullSoftmax(self.rnn.output_size, vocab_size, seed=rng, dtype=dtype)

    def _add_output_and_dropouts(self, rng):
        """After the output layer's weights are settled (tied or not): its place among the children, the dropouts."""
        self.add_child("output", self.output)
        self.drop_in = self.add_child("drop_in", Dropout(self.cfg["dropout"] if self.cfg["embed"] else 0.0, seed=rng))
        self.drop_out = self.add_child("drop_out", Dropout(self.cfg["dropout"], seed=rng))
        self.vocab_size = self.cfg["vocab_size"]
        self.final_state = None
        self.last_states = None
        self._shape = None

    # --- configuration, files ------------------------------------------------

    def config(self):
        return dict(self.cfg)

    def buffers(self):
        """Arrays that are saved with the weights but not trained: the word classes."""
        if self.cfg["softmax"] == "class":
            return {"output.word_class": self.output.word_class}
        return {}

    def arrays(self):
        """Everything weights.safetensors holds: the parameters and the buffers, by name."""
        return {**self.params, **self.buffers()}

    @classmethod
    def from_config(cls, cfg, buffers=None, seed=None, dtype=None):
        word_class = (buffers or {}).get("output.word_class")
        return cls(seed=seed, dtype=dtype, word_class=word_class, **cfg)

    # --- what a checkpoint must restore ------------------------------------

    def _dropouts(self):
        """Every Dropout module, in the order of the children."""
        out, stack = [], [self]
        while stack:
            module = stack.pop(0)
            if isinstance(module, Dropout):
                out.append(module)
            stack.extend(getattr(module, "_children", {}).values())
        return out

    def generators(self):
        """The random generators that dropout draws from, each listed once."""
        seen, out = set(), []
        for module in self._dropouts():
            if id(module.rng) not in seen:
                seen.add(id(module.rng))
                out.append(module.rng)
        return out

    def share_dropout(self, lo, hi, batch):
        """Train on streams lo..hi of a batch of ``batch`` with the masks one process draws for them (a
        data-parallel replica, rnnkit.scale: every replica draws the whole batch's masks and keeps its rows)."""
        for module in self._dropouts():
            module.share = (lo, hi, batch)


class RNNLM(LanguageNetwork):
    """ids (T, B) -> log-probabilities of the next token, trained by BPTT.

    Parameters, by name: ``embedding.E`` (absent with embed=0), the stack's
    ``rnn.layers.<i>.U/W/b``, ``output.V`` (absent when tied to
    embedding.E) and ``output.c``.
    """

    def __init__(self, vocab_size, embed=200, hidden=200, layers=1, cell="rnn", activation="tanh",
                 init="xavier", dropout=0.0, tie_weights=False, softmax="full", classes=None, head=0,
                 word_class=None, seed=None, dtype=None):
        super().__init__()
        self._check(cell, softmax, word_class, head)
        if tie_weights and embed != hidden:
            raise ValueError(f"tied weights need embed == hidden, got embed {embed} and hidden {hidden}")
        if tie_weights and softmax == "class" and word_class is not None and (xp.diff(word_class) < 0).any():
            # The class softmax keeps V's rows grouped by class; E's rows are in id
            # order. They are one array only when every class is a block of ids.
            raise ValueError("tied weights with the class softmax need classes that are blocks of ids "
                             "(see rnnkit.nn.class_softmax.frequency_classes)")
        dtype = as_dtype(dtype)
        self.cfg = dict(vocab_size=vocab_size, embed=embed, hidden=hidden, layers=layers, cell=cell,
                        activation=activation, init=init, dropout=dropout, tie_weights=tie_weights,
                        softmax=softmax, classes=classes, **self._head_entry(head))
        rng = make_rng(seed)
        self._build_parts(rng, dtype, word_class)
        if tie_weights:
            # One array for both uses, and one gradient array that both layers
            # add into (in place), so the update sees the sum of both gradients.
            self.output.params["V"] = self.embedding.params["E"]
            self.output.grads["V"] = self.embedding.grads["E"]
        self._add_output_and_dropouts(rng)

    # --- forward and backward ------------------------------------------------

    def hidden_states(self, ids, state=None):
        """The last layer's states s_t for inputs ids (T, B): (T, B, H). Sets final_state."""
        x = ids
        if self.embedding is not None:
            x = self.drop_in.forward(self.embedding.forward(ids))
        h = self.drop_out.forward(self.rnn.forward(x, state))
        self.final_state = self.rnn.final_state
        return h

    def loss(self, ids, targets, state=None):
        """Mean cross-entropy (nats per token) of predicting ``targets`` (T, B) from ``ids``."""
        h = self.hidden_states(ids, state)
        T, B, H = h.shape
        self._shape = (T, B, H)
        self.last_states = h  # for a neural cache (rnnkit.lm.adapt), which reads the states it was scored with
        return self.output.loss(h.reshape(T * B, H), targets.reshape(T * B))

    def last_token_nll(self):
        """-log o_t[targets_t] of every token of the last ``loss``: (T, B) float64 (dynamic evaluation's scores)."""
        return self.output.last_nll.reshape(self._shape[:2])

    def backward(self, weight_sink=None):
        """BPTT through the window of the last ``loss``: accumulates every parameter's gradient.

        ``weight_sink(lo, hi, d, x)``: the output layer's ∇V is handed to it in pieces of rows,
        each as the factors of ∇V[lo:hi] = d^T x (nn/_fast.py's linear_backward), and not added
        into grads; with tied weights grads["embedding.E"] then holds the embedding's part only,
        in the rows of ``ids``. The full softmax hands them over in its own backward, block by
        block with its dh, before BPTT; the class softmax's go beside BPTT, as without a sink.
        Nothing after the pieces reads V, so the sink may change those rows of V at once.
        """
        # ∇V, the largest product of the step, is needed by nothing below: it runs on
        # the other core while BPTT's chain of small products runs on this one. The
        # embedding's gradient comes after it: with tied weights it is the same array.
        dh, weight_grad = self.output._backward_loss(defer_weight_grad=True, weight_sink=weight_sink)  # nn/_fast.py
        dh = dh.reshape(self._shape)
        with alongside(weight_grad):
            dx, _ = self.rnn.backward(self.drop_out.backward(dh))
        if self.embedding is not None:
            self.embedding.backward(self.drop_in.backward(dx))

    def log_probs(self, ids, state=None):
        """log o_t for every step: (T, B, vocab). Sets final_state."""
        h = self.hidden_states(ids, state)
        T, B, H = h.shape
        return self.output.log_probs(h.reshape(T * B, H)).reshape(T, B, self.vocab_size)

    def last_log_probs(self, ids, state=None):
        """log o_T of the last step only: (B, vocab). The recurrent layers read every step; the
        output layer, the costly part, runs once (predicting after a prefix). Sets final_state."""
        h = self.hidden_states(ids, state)
        return self.output.log_probs(xp.ascontiguousarray(h[-1]))

    def token_log_probs_at(self, ids, rows, targets, state=None, extra=None):
        """log o_t[target] at some steps only: the recurrent layers read ids (T, B), the output layer
        runs at ``rows`` (flat indices into the T x B steps, t * B + b) for ``targets`` (one each).
        ``extra`` (rows' positions in ``rows``, targets): more targets of those rows, then
        returned second. Sets final_state."""
        h = self.hidden_states(ids, state)
        T, B, H = h.shape
        return self.output.token_log_probs(h.reshape(T * B, H)[rows], targets, extra)

    def token_log_probs(self, ids, targets, state=None):
        """log o_t[targets_t] only: (T, B). Cheaper than log_probs with the class softmax."""
        h = self.hidden_states(ids, state)
        T, B, H = h.shape
        return self.output.token_log_probs(h.reshape(T * B, H), targets.reshape(T * B)).reshape(T, B)

    def start_state(self, eos_id, batch=1):
        """The state after reading <eos> from zeros: where every sentence starts."""
        self.hidden_states(xp.full((1, batch), eos_id, dtype=xp.int32))
        return self.final_state


def flatten_state(state):
    """(arrays, structure) of a nested recurrent state, for a checkpoint file."""
    leaves = tree_leaves(state)
    counter = iter(range(len(leaves)))

    def shape_of(node):
        if node is None:
            return None
        if isinstance(node, (tuple, list)):
            return {"tuple" if isinstance(node, tuple) else "list": [shape_of(n) for n in node]}
        return next(counter)

    return leaves, shape_of(state)


def unflatten_state(leaves, structure):
    def build(node):
        if node is None:
            return None
        if isinstance(node, dict):
            (kind, items), = node.items()
            built = [build(n) for n in items]
            return tuple(built) if kind == "tuple" else built
        return leaves[node]

    return build(structure)
