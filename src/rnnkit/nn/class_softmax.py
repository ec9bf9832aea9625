"""Class-based softmax (Mikolov et al. 2011): a large vocabulary at a fraction of the cost.

A full softmax over a vocabulary of size |V| costs |V| x H per token. Putting
every word w in one class c(w) factorises the probability exactly:

    P(w | h) = P(c(w) | h) * P(w | c(w), h)
    P(c | h)       = softmax over classes   (Vc h + bc)
    P(w | c, h)    = softmax over the words of class c only   (V_c h + b_c)

so a training step costs (C + |c(w)|) x H per token instead of |V| x H, and
the probabilities are still normalised over the whole vocabulary: evaluation
reports exact perplexities. Classes are frequency bins (``frequency_classes``):
frequent words get small classes of their own, rare words share large ones.

The word weights are stored with each class's words in one contiguous block of
rows, so the words of a class are a slice (a view, no gather) of V.

A head (Grave et al. 2017, "Efficient softmax approximation for GPUs": the
adaptive softmax) keeps the most frequent words out of the factorisation. The
first ``head`` ids are each a class of their own, scored in the first softmax
with their own rows of V and c beside the classes' rows Vc, bc:

    P(w | h)  = softmax([V_head h + c_head ; Vc h + bc])[w]                      w in the head
    P(w | h)  = softmax([...])[c(w)] * P(w | c(w), h)                            otherwise

On PTB the 2,000 most frequent of 10,000 words are 87% of the tokens: those
are scored as by a full softmax over 2,000 + C outputs, and only the other 13%
pay for their class's softmax. Grave et al. also shrink the rarer classes' word
vectors; here every word keeps a row of V, so V stays the shape of the
embedding and the two can be tied.
"""

from functools import partial

from rnnkit.backend import as_dtype, rng as make_rng, xp
from rnnkit.nn.init import glorot_uniform
from rnnkit.nn.module import Module, check_array
from rnnkit.nn.softmax import check_extra, log_softmax


def frequency_classes(counts, num_classes, power=0.5, head=0):
    """A class id per word: the ids cut, in order, into bins of equal count**power mass.

    With ``head`` > 0 the first ``head`` ids are classes 0..head-1, one word
    each, and the rest are binned into ``num_classes`` classes numbered from
    ``head`` on (the layout ``ClassSoftmax(head=...)`` expects).

    Mikolov's frequency binning (power 1 in the original; 0.5, the rnnlm
    toolkit's default, balances the class sizes better): frequent words get
    small classes of their own, rare words share large ones. The bins follow
    the ids, as a vocabulary numbered by falling count is already sorted, so
    every class is a block of consecutive ids: the layer then keeps V's rows in
    id order, the layout of an embedding E, and the two can be one array
    (tied weights). Class ids are renumbered 0..K-1, with no empty class.
    """
    counts = xp.asarray(counts, dtype=xp.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError("counts: expected a non-empty 1-D array of word counts")
    if not 0 <= head < counts.size:
        raise ValueError(f"head: expected 0 to {counts.size - 1} words (some must be left for the classes), got {head}")
    if head:
        return xp.concatenate([xp.arange(head), head + frequency_classes(counts[head:], num_classes, power)])
    mass = xp.maximum(counts, 1.0) ** power
    share = mass / mass.sum()
    before = xp.cumsum(share) - share  # the mass of all ids before this one
    bins = xp.minimum((before * num_classes).astype(xp.int64), num_classes - 1)
    return xp.unique(bins, return_inverse=True)[1].astype(xp.int64)


class ClassSoftmax(Module):
    """Output layer and loss: P(w|h) = P(c(w)|h) P(w|c(w),h), the first ``head`` words scored directly.

    Parameters: "Vc" (C x H), "bc" (C), "V" (vocab x H, rows in class order), "c" (vocab); C counts
    the classes after the head. The first-level softmax has head + C outputs: V[:head] h + c[:head], then Vc h + bc.
    loss(h (N, H), targets (N,)) -> mean nats (each token's in ``last_nll``);  backward_loss() -> dh (N, H)
    token_log_probs(h, targets) -> (N,) exact log P(target | h)
    token_log_probs(h, targets, extra=(rows (E,), targets (E,))) -> ((N,), (E,)): and more targets of some rows
    log_probs(h) -> (N, vocab) exact log P(w | h) for every word (costs a full softmax)
    """

    def __init__(self, hidden_size, vocab_size, word_class, seed=None, dtype=None, head=0):
        super().__init__()
        dtype = as_dtype(dtype)
        word_class = xp.asarray(word_class, dtype=xp.int64)
        check_array("word_class", word_class, 1, (vocab_size,))
        if not 0 <= head < vocab_size or (word_class[:head] != xp.arange(head)).any() \
                or (head and word_class[head:].min() < head):
            raise ValueError(f"word_class: the first {head} ids must be classes 0..{head - 1}, one word each, "
                             "and the rest in classes from there on (see frequency_classes)")
        rng = make_rng(seed)
        self.hidden_size, self.vocab_size, self.head = hidden_size, vocab_size, head
        self.word_class = word_class
        self.num_classes = int(word_class.max()) + 1  # the head's words included
        # row_of[w]: the row of word w in V; the rows of class k are start[k]:start[k+1]
        self.order = xp.argsort(word_class, kind="stable")
        self.row_of = xp.empty(vocab_size, dtype=xp.int64)
        self.row_of[self.order] = xp.arange(vocab_size)
        sizes = xp.bincount(word_class, minlength=self.num_classes)
        self.start = xp.concatenate([[0], xp.cumsum(sizes)])
        self.add_param("Vc", glorot_uniform(rng, (self.num_classes - head, hidden_size), dtype))
        self.add_param("bc", xp.zeros(self.num_classes - head, dtype=dtype))
        self.add_param("V", glorot_uniform(rng, (vocab_size, hidden_size), dtype))
        self.add_param("c", xp.zeros(vocab_size, dtype=dtype))
        # A window's targets fall in a few classes: only those classes' rows of V and c
        # (and the head's) get a gradient, so zeroing, clipping and SGD skip the rest (793k words, 200 MB of V)
        self.sparse_rows("V")
        self.sparse_rows("c")
        self._cache = None
        self.last_nll = None  # (N,) float64: each token's -log P(target | h) of the last loss

    def _groups(self, targets):
        """(class, positions in the batch, positions of the targets within their class) per class present
        after the head: a head word's class holds it alone, P(w | c(w), h) = 1."""
        cls = self.word_class[targets]
        order = xp.argsort(cls, kind="stable")
        order = order[cls[order] >= self.head]
        sorted_cls = cls[order]
        cut = xp.flatnonzero(xp.diff(sorted_cls)) + 1
        within = self.row_of[targets] - self.start[cls]
        return [(int(cls[idx[0]]), idx, within[idx]) for idx in xp.split(order, cut) if idx.size]

    def _class_log_probs(self, h):
        """log P(c | h) for the head's words, then the classes: (N, num_classes)."""
        K = self.head
        logits = xp.empty((h.shape[0], self.num_classes), dtype=h.dtype)
        xp.matmul(h, self.params["Vc"].T, out=logits[:, K:])
        logits[:, K:] += self.params["bc"]
        if K:
            xp.matmul(h, self.params["V"][:K].T, out=logits[:, :K])
            logits[:, :K] += self.params["c"][:K]
        return log_softmax(logits)

    def _class_terms(self, h, targets):
        """log P(c(w)|h) per token, and the class probabilities for backward."""
        logp = self._class_log_probs(h)
        cls = self.word_class[targets]
        return logp[xp.arange(len(targets)), cls], logp

    def token_log_probs(self, h, targets, extra=None):
        check_array("h", h, 2, (None, self.hidden_size))
        check_array("targets", targets, 1, (h.shape[0],))
        if extra is not None:
            # A word's probability needs its own class's softmax: the extra pairs are rows of their own.
            check_extra(extra, h.shape[0], self.vocab_size)
            rows, more = extra
            both = self.token_log_probs(xp.concatenate([h, h[rows]]), xp.concatenate([targets, more]))
            return both[:h.shape[0]], both[h.shape[0]:]
        V, c = self.params["V"], self.params["c"]
        logp, _ = self._class_terms(h, targets)
        for k, idx, within in self._groups(targets):
            lo, hi = self.start[k], self.start[k + 1]
            word_logp = log_softmax(h[idx] @ V[lo:hi].T + c[lo:hi])
            logp[idx] += word_logp[xp.arange(len(idx)), within]
        return logp

    def loss(self, h, targets):
        check_array("h", h, 2, (None, self.hidden_size))
        check_array("targets", targets, 1, (h.shape[0],))
        N = h.shape[0]
        V, c = self.params["V"], self.params["c"]
        class_logp_target, class_logp = self._class_terms(h, targets)
        nll = -class_logp_target.astype(xp.float64)  # -log P(w|h) per token, the word terms added below
        # gradient of the mean loss w.r.t. the class logits: (P(c|h) - onehot) / N
        d_class = xp.exp(class_logp)
        d_class[xp.arange(N), self.word_class[targets]] -= 1.0
        d_class /= N
        word_parts = []
        for k, idx, within in self._groups(targets):
            lo, hi = self.start[k], self.start[k + 1]
            logp = log_softmax(h[idx] @ V[lo:hi].T + c[lo:hi])
            rows = xp.arange(len(idx))
            nll[idx] -= logp[rows, within]
            d = xp.exp(logp)
            d[rows, within] -= 1.0
            d /= N
            word_parts.append((lo, hi, idx, d))
        self._cache = (h, d_class, word_parts)
        self.last_nll = nll
        return float(nll.sum()) / N

    def backward_loss(self):
        return self._backward_loss()[0]

    def _backward_loss(self, defer_weight_grad=False, weight_sink=None):
        """(dh, pieces of ∇V): with ``defer_weight_grad`` the products for ∇V (one per
        class, one for the head) are left to the caller (RNNLM.backward runs them beside BPTT), as
        FullSoftmax's are; otherwise they are done and pieces is empty.
        ``weight_sink(lo, hi, d, x)``: each class's rows of ∇V go to it, as the factors of
        ∇V[lo:hi] = d^T x, instead of into grads["V"] (see rnnkit.nn._fast.linear_backward)."""
        h, d_class, word_parts = self._cache
        K = self.head
        V, gV = self.params["V"], self.grads["V"]
        d_tail = d_class[:, K:]
        self.grads["Vc"] += d_tail.T @ h
        self.grads["bc"] += d_tail.sum(axis=0)
        dh = d_tail @ self.params["Vc"]
        # The head's words are scored by their rows of V, like a class's words: one more piece.
        parts = ([(0, K, slice(None), d_class[:, :K])] if K else []) + word_parts

        def weight_grad(lo, hi, idx, d):
            if weight_sink is None:
                gV[lo:hi] += d.T @ h[idx]
            else:
                weight_sink(lo, hi, d, h[idx])

        pieces = []
        for lo, hi, idx, d in parts:
            rows = xp.arange(lo, hi)
            if weight_sink is None:
                self.touched("V", rows)
            self.touched("c", rows)
            pieces.append(partial(weight_grad, lo, hi, idx, d))
            self.grads["c"][lo:hi] += d.sum(axis=0)
            dh[idx] += d @ V[lo:hi]
        self._cache = None
        if not defer_weight_grad:
            for piece in pieces:
                piece()
            pieces = []
        return dh, pieces

    def log_probs(self, h):
        check_array("h", h, 2, (None, self.hidden_size))
        V, c = self.params["V"], self.params["c"]
        class_logp = self._class_log_probs(h)
        out_rows = xp.empty((h.shape[0], self.vocab_size), dtype=h.dtype)
        out_rows[:, :self.head] = class_logp[:, :self.head]
        for k in range(self.head, self.num_classes):
            lo, hi = self.start[k], self.start[k + 1]
            out_rows[:, lo:hi] = log_softmax(h @ V[lo:hi].T + c[lo:hi]) + class_logp[:, k:k + 1]
        return out_rows[:, self.row_of]  # back from class order to word ids
