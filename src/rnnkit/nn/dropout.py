"""Inverted dropout for the non-recurrent connections (Zaremba et al. 2014).

Each unit is kept with probability 1 - p and scaled by 1 / (1 - p) in training,
so evaluation needs no rescaling. Recurrent connections are never dropped.
"""

from rnnkit.backend import rng as make_rng
from rnnkit.nn.module import Module


class Dropout(Module):
    """forward(x) -> x * mask; backward(dout) -> dout * mask. Shapes unchanged.

    ``reuse_mask = True`` keeps the last mask, so a gradient check can evaluate
    the same function many times.

    ``share = (lo, hi, batch)``: x is (T, hi - lo, ...), rows lo..hi of a
    batch of ``batch``; the mask is drawn for the whole batch and rows lo..hi
    kept. Replicas that each hold a share of the batch and a copy of the same
    generator (rnnkit.scale) so draw together exactly the mask one process draws.
    """

    def __init__(self, p=0.0, seed=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = make_rng(seed)
        self.reuse_mask = False
        self.share = None
        self._mask = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        if not (self.reuse_mask and self._mask is not None and self._mask.shape == x.shape):
            dtype = x.dtype if x.dtype.kind == "f" and x.itemsize >= 4 else None
            keep = self.rng.random(self._draw_shape(x), dtype=dtype)
            if self.share is not None:
                keep = keep[:, self.share[0]:self.share[1]]
            self._mask = (keep >= self.p).astype(x.dtype) / x.dtype.type(1.0 - self.p)
        return x * self._mask

    def _draw_shape(self, x):
        if self.share is None:
            return x.shape
        lo, hi, batch = self.share
        if x.ndim < 2 or x.shape[1] != hi - lo:
            raise ValueError(f"dropout share {lo}..{hi} of {batch} needs (T, {hi - lo}, ...), got {x.shape}")
        return (x.shape[0], batch) + x.shape[2:]

    def backward(self, dout):
        if self._mask is None:
            return dout
        return dout * self._mask
