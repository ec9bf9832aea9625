"""A language model's output layer over the whole vocabulary: o_t = softmax(V s_t + c) (式1, g = softmax),
with the cross-entropy loss.

It is Linear followed by SoftmaxCrossEntropy, fused: the (N, vocab) logits are
the largest arrays of training, so the layer runs them through the internal
kernels (rnnkit.nn._fast) that touch them as few times as possible. The
numbers are those of the two layers one after the other (tests/nn compare them).
"""

from rnnkit.nn import _fast
from rnnkit.nn.linear import Linear
from rnnkit.nn.module import check_array, check_float
from rnnkit.nn.softmax import check_extra, check_logits, log_softmax


class FullSoftmax(Linear):
    """Parameters V (vocab x H) and c (vocab), as Linear's.

    loss(h (N, H), targets (N,)) -> mean nats (each token's in ``last_nll``);  backward_loss() -> dh (N, H)
    token_log_probs(h (N, H), targets (N,)) -> (N,) float64 log o_t[target]
    token_log_probs(h, targets, extra=(rows (E,), targets (E,))) -> ((N,), (E,)): and more targets of some rows
    log_probs(h (N, H)) -> (N, vocab) log o_t
    """

    def __init__(self, hidden_size, vocab_size, seed=None, dtype=None):
        super().__init__(hidden_size, vocab_size, seed=seed, dtype=dtype)
        self._cache = None
        self.last_nll = None  # (N,) float64: each token's -log o_t[target] of the last loss

    def loss(self, h, targets):
        # In place: the logits become e^x and then their gradient, never copied;
        # c is added inside the softmax's cache-sized blocks, not in a pass of its own.
        logits = self._logits(h, targets)
        nll, sums = _fast.xent_rows(logits, targets, bias=self.params.get("c"))
        self._cache = (h, logits, targets, sums)
        self.last_nll = nll
        return float(nll.mean())

    def backward_loss(self):
        return self._backward_loss()[0]

    def _backward_loss(self, defer_weight_grad=False, weight_sink=None):
        """(dh, pieces of ∇V): with ``defer_weight_grad`` ∇V is left to the caller
        (RNNLM.backward runs it beside BPTT), otherwise it is done and pieces is empty.
        ``weight_sink``: ∇V's rows go to it, not into grads["V"] (_fast.linear_backward)."""
        if self._cache is None:
            raise RuntimeError("backward_loss() needs loss() first")
        h, G, targets, sums = self._cache
        self._cache = None
        # The softmax's 1 / Σ e^x per row goes onto the (N, H) side of the products.
        G, row_scale = _fast.xent_grad_rows(G, targets, sums)
        return _fast.linear_backward(h, G, self.params["V"], self.grads["V"], self.grads.get("c"),
                                     row_scale=row_scale, defer_weight_grad=defer_weight_grad,
                                     weight_sink=weight_sink)

    def log_probs(self, h):
        return log_softmax(self.forward(h))

    def token_log_probs(self, h, targets, extra=None):
        # The softmax's cache-sized blocks, without the (N, vocab) array of log_probs;
        # a row's extra targets are read in the same pass, from the same sums.
        if extra is not None:
            check_extra(extra, h.shape[0], self.out_features)
        r = _fast.xent_rows(self._logits(h, targets), targets, bias=self.params.get("c"), extra=extra)
        return -r[0] if extra is None else (-r[0], -r[2])

    def _logits(self, h, targets):
        """V h without c, checked: (N, vocab)."""
        V = self.params["V"]
        check_array("h", h, 2, (None, self.in_features))
        check_float("h", h, V.dtype)
        logits = _fast.times_transpose(h, V)
        check_logits(logits, targets)
        return logits
