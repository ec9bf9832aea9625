"""Softmax output and cross-entropy loss (SEED §7).

    softmax:        y_i = e^{x_i} / Σ_k e^{x_k}
    cross-entropy:  L = -(1/N) Σ_n log y_n[target_n]

Computed through log-sum-exp (subtracting the row maximum first) so large
logits cannot overflow. The gradient of the mean loss w.r.t. the logits is
(y - onehot(target)) / N.
"""

from rnnkit.backend import xp
from rnnkit.nn.module import check_array


def log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x, axis=-1):
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


class SoftmaxCrossEntropy:
    """forward(logits (N, V), targets (N,) ints) -> mean loss in nats; backward() -> dlogits (N, V).

    With ``inplace=True`` the logits array is overwritten by the probabilities
    and then by the gradient, so the (N, V) array is never copied.
    """

    def __init__(self, inplace=False):
        self.inplace = inplace
        self._probs = None
        self._targets = None

    def forward(self, logits, targets):
        check_array("logits", logits, 2)
        check_array("targets", targets, 1, (logits.shape[0],))
        if targets.dtype.kind not in "iu":
            raise ValueError(f"targets: expected integer class ids, got dtype {targets.dtype}")
        N, V = logits.shape
        if targets.size and (targets.min() < 0 or targets.max() >= V):
            raise ValueError(f"targets: class ids must lie in [0, {V}), got {targets.min()}..{targets.max()}")
        probs = logits if self.inplace else logits.copy()
        probs -= probs.max(axis=1, keepdims=True)
        target_logit = probs[xp.arange(N), targets]
        xp.exp(probs, out=probs)
        z = probs.sum(axis=1)
        probs /= z[:, None]
        self._probs, self._targets = probs, targets
        # -log y_target = log Σ e^{x_k} - x_target (with the max already subtracted)
        return float(xp.mean(xp.log(z) - target_logit))

    def backward(self):
        N = self._probs.shape[0]
        d = self._probs
        d[xp.arange(N), self._targets] -= 1.0
        d /= N
        self._probs = None
        return d
