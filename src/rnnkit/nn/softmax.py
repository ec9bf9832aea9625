"""Softmax output and cross-entropy loss (docs/article.md §7).

    softmax:        y_i = e^{x_i} / Σ_k e^{x_k}
    cross-entropy:  L = -(1/N) Σ_n log y_n[target_n]

Computed through log-sum-exp, shifted by the row maximum wherever e^x could
otherwise overflow. The gradient of the mean loss w.r.t. the logits is
(y - onehot(target)) / N.
"""

from rnnkit.backend import xp
from rnnkit.parallel import parallel_map
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

    With ``inplace=True`` the logits array is overwritten by the probabilities
    and then by the gradient, so the (N, V) array is never copied.

    The logits are the largest array of a language model's step (N x vocabulary),
    so the work on them is arranged to touch memory as little as possible: rows
    are processed in blocks that stay in the CPU cache while the maximum, e^x
    and the sum pass over them. Two passes of the textbook recipe are left out:
    the shift by the row maximum, where the maximum shows that e^x cannot
    overflow (SHIFT_FREE), and the division by the row sum, which
    ``backward_rows`` hands to the next layer as a factor per row (a matrix
    product takes it on its (N, H) operand for free). ``backward`` applies it
    for callers that want the plain (N, V) gradient.
    """

    ROWS_PER_BLOCK = 32  # 32 x 10,000 float32 = 1.3 MB: fits in L2 on current CPUs
    # softmax(x) = softmax(x - a) for any a per row; a is there only so that e^x
    # cannot overflow. A row whose maximum m lies in this range keeps a = 0: its
    # sum is at most V e^60, finite in float32 for any vocabulary below 10^12,
    # and an e^x that underflows (x < -87) belongs to a probability below
    # e^(-87+20) ~ 1e-29. Other rows are shifted by m.
    SHIFT_FREE = (-20.0, 60.0)

    def __init__(self, inplace=False):
        self.inplace = inplace
        self._grad = None
        self._targets = None
        self._sums = None  # Σ_j e^{x_j - a} of every row (a: its shift): y = e^{x - a} / sums

    def forward(self, logits, targets, bias=None):
        """``bias`` (V,), if given, is added to every row first, inside the blocks:
        one pass over the (N, V) array fewer than adding it beforehand."""
        _check(logits, targets)
        work = logits if self.inplace else logits.copy()
        nll, self._sums = self._rows(work, targets, bias)
        self._grad, self._targets = work, targets
        return float(nll.mean())

    def token_nll(self, logits, targets, bias=None):
        """-log softmax(logits + bias)[n, targets_n] for every row n: (N,) float64.

        What evaluation needs: the rows are not turned into probabilities (one
        pass fewer) and nothing is kept for backward. With ``inplace=True`` the
        logits are overwritten.
        """
        _check(logits, targets)
        self._grad = None
        return self._rows(logits if self.inplace else logits.copy(), targets, bias)[0]

    def _rows(self, work, targets, bias):
        """(NLL, sums) of every row, (N,) float64 each, computed in cache-sized blocks of
        ``work``, which is left holding e^{x - a} (a: the row's shift, see SHIFT_FREE)."""
        N = work.shape[0]
        nll = xp.empty(N, dtype=xp.float64)
        sums = xp.empty(N, dtype=xp.float64)
        low, high = self.SHIFT_FREE

        def rows(span):
            for lo in range(span[0], span[1], self.ROWS_PER_BLOCK):
                block = work[lo:min(lo + self.ROWS_PER_BLOCK, span[1])]
                n = block.shape[0]
                if bias is not None:
                    block += bias
                top = block.max(axis=1)
                shift = (top < low) | (top > high)
                if shift.any():
                    block[shift] -= top[shift, None]  # now the row maximum is 0: e^x cannot overflow
                target_logit = block[xp.arange(n), targets[lo:lo + n]].astype(xp.float64)
                xp.exp(block, out=block)
                # A float32 row sum is pairwise (error ~ log2(V) ulp) and twice as fast as one in float64.
                z = block.sum(axis=1).astype(xp.float64)
                sums[lo:lo + n] = z
                nll[lo:lo + n] = xp.log(z) - target_logit  # cross-entropy: -log y_target = log Σ_j e^{x_j - a} - (x_target - a)

        # NumPy runs each pass on one core; the blocks are shared out among threads.
        parallel_map(rows, _spans(N, self.ROWS_PER_BLOCK))
        return nll, sums

    def backward_rows(self):
        """(G (N, V), r (N,)) with dlogits = r[:, None] * G, without a pass over the array.

        G = e^{x - a} - sums ⊙ onehot(target) and r = 1 / (N sums), so that
        r ⊙ G = (y - onehot) / N. A matrix product that follows applies r to its
        small operand instead (Linear.backward's ``row_scale``). Overwrites what
        forward left (with ``inplace`` the logits array) and can be called once.
        """
        G, sums = self._grad, self._sums
        if G is None:
            raise RuntimeError("backward() needs forward() first (token_nll keeps nothing for it)")
        N = G.shape[0]
        G[xp.arange(N), self._targets] -= sums.astype(G.dtype)  # δo = (y - onehot) / N, times N sums
        self._grad = self._sums = None
        return G, (1.0 / (N * sums)).astype(G.dtype)

    def backward(self):
        """dlogits = (y - onehot) / N, (N, V): ``backward_rows`` with the factor applied."""
        G, r = self.backward_rows()
        G *= r[:, None]
        return G


def _check(logits, targets):
    check_array("logits", logits, 2)
    check_array("targets", targets, 1, (logits.shape[0],))
    if targets.dtype.kind not in "iu":
        raise ValueError(f"targets: expected integer class ids, got dtype {targets.dtype}")
    V = logits.shape[1]
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(f"targets: class ids must lie in [0, {V}), got {targets.min()}..{targets.max()}")


def _spans(n, block):
    """[lo, hi) row ranges for parallel_map: one block each, handed to whichever thread is free
    (parallel_map runs them in this thread when there is one); one range for everything below
    four blocks, where threads cost more than they save."""
    if n < 4 * block:
        return [(0, n)]
    return [(lo, min(lo + block, n)) for lo in range(0, n, block)]
