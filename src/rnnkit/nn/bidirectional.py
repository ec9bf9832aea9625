"""A bidirectional layer (docs/article.md §3): one layer forward in time, one backward.

    s_t  = f(U x_t + W s_{t-1})          the "fw" layer
    s'_t = f(U' x_t + W' s'_{t+1})       the "bw" layer, separate weights

The output at step t is both states side by side, [s_t; s'_t] of size 2H, so
that an output layer computes o_t = g(V s_t + V' s'_t) as one product with
[V V'].

With ``split_input=True`` the input's features are two halves and each
direction reads only its own: the article's deep form (docs/article.md §4), where s^(i)
reads s^(i-1) and s'^(i) reads s'^(i-1). Otherwise both read the whole input.
"""

from rnnkit.backend import rng as make_rng, xp
from rnnkit.nn.module import Module


class Bidirectional(Module):
    """forward(x, state0=None) -> (T, B, 2H); state0 and final_state are (fw, bw) pairs.

    backward(doutputs (T, B, 2H)) -> (dx, (dstate0_fw, dstate0_bw)).
    """

    def __init__(self, cell, input_size, hidden_size, split_input=False, seed=None, **cell_kwargs):
        super().__init__()
        if split_input and input_size % 2:
            raise ValueError(f"split_input needs an even input size, got {input_size}")
        self.split_input = split_input
        self.hidden_size = hidden_size
        self.input_size = input_size
        rng = make_rng(seed)
        direction_input = input_size // 2 if split_input else input_size
        self.fw = self.add_child("fw", cell(direction_input, hidden_size, seed=rng, reverse=False, **cell_kwargs))
        self.bw = self.add_child("bw", cell(direction_input, hidden_size, seed=rng, reverse=True, **cell_kwargs))
        self.output_size = 2 * hidden_size
        self.final_state = None

    def forward(self, x, state0=None):
        s0_fw, s0_bw = (None, None) if state0 is None else state0
        if self.split_input:
            half = self.input_size // 2
            x_fw, x_bw = x[..., :half], x[..., half:]
        else:
            x_fw = x_bw = x
        out = xp.concatenate([self.fw.forward(x_fw, s0_fw), self.bw.forward(x_bw, s0_bw)], axis=-1)
        self.final_state = (self.fw.final_state, self.bw.final_state)
        return out

    def backward(self, doutputs):
        H = self.hidden_size
        dx_fw, ds0_fw = self.fw.backward(xp.ascontiguousarray(doutputs[..., :H]))
        dx_bw, ds0_bw = self.bw.backward(xp.ascontiguousarray(doutputs[..., H:]))
        if dx_fw is None:
            dx = None
        elif self.split_input:
            dx = xp.concatenate([dx_fw, dx_bw], axis=-1)
        else:
            dx = dx_fw + dx_bw  # both directions read the same x
        return dx, (ds0_fw, ds0_bw)
