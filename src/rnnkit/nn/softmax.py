"""Softmax output and cross-entropy loss (docs/article.md §7).

    softmax:        y_i = e^{x_i} / Σ_k e^{x_k}
    cross-entropy:  L = -(1/N) Σ_n log y_n[target_n]

Computed through log-sum-exp, shifted by the row maximum wherever e^x could
otherwise overflow. The gradient of the mean loss w.r.t. the logits is
(y - onehot(target)) / N.
"""

from rnnkit.backend import xp
from rnnkit.nn import _fast
from rnnkit.nn.module import check_array


def log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x, axis=-1):
    e = xp.exp(x - x.max(axis=axis, keepdims=True))  # 式1: g = softmax, y_i = e^{x_i} / Σ_k e^{x_k}
    e /= e.sum(axis=axis, keepdims=True)
    return e


class SoftmaxCrossEntropy:
    """forward(logits (N, V), targets (N,) ints) -> mean loss in nats; backward() -> dlogits (N, V).

    token_nll(logits, targets) -> (N,) float64: -log y_n[target_n] per row, nothing kept for backward.

    With ``inplace=True`` the logits array is overwritten by the probabilities
    and then by the gradient, so the (N, V) array is never copied. The rows are
    computed by rnnkit.nn._fast.xent_rows, in cache-sized blocks spread over the
    cores: the same numbers as log_softmax, in fewer passes over memory.
    """

    def __init__(self, inplace=False):
        self.inplace = inplace
        self._grad = None
        self._targets = None
        self._sums = None  # Σ_j e^{x_j - a} of every row (a: its shift): y = e^{x - a} / sums

    def forward(self, logits, targets):
        check_logits(logits, targets)
        work = logits if self.inplace else logits.copy()
        nll, self._sums = _fast.xent_rows(work, targets)
        self._grad, self._targets = work, targets
        return float(nll.mean())

    def token_nll(self, logits, targets):
        """What evaluation needs: the rows are not turned into probabilities (one
        pass fewer). With ``inplace=True`` the logits are overwritten."""
        check_logits(logits, targets)
        self._grad = None
        return _fast.xent_rows(logits if self.inplace else logits.copy(), targets)[0]

    def backward(self):
        """dlogits = (y - onehot) / N, (N, V). Overwrites what forward left (with
        ``inplace`` the logits array) and can be called once."""
        if self._grad is None:
            raise RuntimeError("backward() needs forward() first (token_nll keeps nothing for it)")
        G, r = _fast.xent_grad_rows(self._grad, self._targets, self._sums)
        self._grad = self._sums = None
        G *= r[:, None]
        return G


def check_logits(logits, targets):
    """ValueError unless logits is (N, V) and targets (N,) integer class ids in [0, V)."""
    check_array("logits", logits, 2)
    check_array("targets", targets, 1, (logits.shape[0],))
    if targets.dtype.kind not in "iu":
        raise ValueError(f"targets: expected integer class ids, got dtype {targets.dtype}")
    V = logits.shape[1]
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(f"targets: class ids must lie in [0, {V}), got {targets.min()}..{targets.max()}")


def check_extra(extra, rows, classes):
    """ValueError unless ``extra`` is (rows (E,), targets (E,)) of ints: rows in [0, rows), targets in [0, classes)."""
    if not isinstance(extra, (tuple, list)) or len(extra) != 2:
        raise ValueError("extra: expected (rows, targets), two arrays of the same length")
    r, t = extra
    check_array("extra rows", r, 1)
    check_array("extra targets", t, 1, (r.shape[0],))
    for name, a, top in (("rows", r, rows), ("targets", t, classes)):
        if a.dtype.kind not in "iu":
            raise ValueError(f"extra {name}: expected integers, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= top):
            raise ValueError(f"extra {name}: must lie in [0, {top}), got {a.min()}..{a.max()}")
