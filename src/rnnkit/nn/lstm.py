"""The LSTM layer (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

The article's remedy for vanishing gradients (docs/article.md §6). For row vectors and a
whole batch, with σ the logistic sigmoid and ⊙ the element-wise product:

    net_t = U x_t + W h_{t-1} + b                      (4H: the four gates' pre-activations)
    i_t = σ(net_t[0:H])                                input gate
    f_t = σ(net_t[H:2H])                               forget gate
    g_t = tanh(net_t[2H:3H])                           candidate cell value
    o_t = σ(net_t[3H:4H])                              output gate
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                    the cell: a sum, not a squashing
    h_t = o_t ⊙ tanh(c_t)                              the state the next layer sees

The gate order i, f, g, o is PyTorch's, so its weight_ih / weight_hh are U / W
as they are, and b = bias_ih + bias_hh (rnnkit.nn.from_torch).

Why it helps. In the Elman layer the error term crosses each step through
W diag[f'(net)] (式3) and shrinks or grows geometrically. Along the cell the
step is  ∂c_t/∂c_{t-1} = diag[f_t]  (plus paths through h): with the forget gate
open (f ≈ 1) the error term passes unchanged over many steps. The forget-gate
bias starts at ``forget_bias`` (1.0, Gers et al.; Jozefowicz et al. 2015) so
the gate starts mostly open.

BPTT (every line is implemented in ``backward``). dE/dh_t has two sources: the
loss at step t (dstates[t]) and the next step through W; dE/dc_t has two too:
the next step's c and this step's h.

    dh_t  = dstates[t] + δ_{t+1} W                      (δ = dE/dnet, 4H)
    dc_t  = dc_{t+1} ⊙ f_{t+1} + dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))
    δo_t  = dh_t ⊙ tanh(c_t) ⊙ o_t (1 - o_t)
    δi_t  = dc_t ⊙ g_t ⊙ i_t (1 - i_t)
    δf_t  = dc_t ⊙ c_{t-1} ⊙ f_t (1 - f_t)
    δg_t  = dc_t ⊙ i_t ⊙ (1 - g_t²)
    ∇U = Σ_t δ_t x_t^T,  ∇W = Σ_t δ_t h_{t-1}^T,  ∇b = Σ_t δ_t,  dx_t = U^T δ_t
    dh_0 = δ_1 W,  dc_0 = dc_1 ⊙ f_1

With ``reverse=True`` the layer runs backwards in time (the second layer of a
bidirectional network): h_{t-1}, c_{t-1} above become h_{t+1}, c_{t+1}.
"""

from rnnkit.backend import xp
from rnnkit.nn.gated import GatedRecurrent
from rnnkit.nn.module import check_array
from rnnkit.parallel import step_threads


class LSTM(GatedRecurrent):
    """LSTM layer with parameters U (4H x input), W (4H x H), b (4H); gate blocks i, f, g, o.

    forward(x, s0=None) -> states          x: (T, B, input) floats, or (T, B) token ids
                                           s0: an (h, c) pair of (B, H) arrays, or None for zeros
                                           states: (T, B, H), the h_t of every step
    backward(dstates) -> (dx, (dh0, dc0))  dstates: (T, B, H), dE/dh_t for every t

    ``final_state`` is the (h, c) pair after the last step. Truncated BPTT: pass
    it as the next chunk's ``s0``; the gradient stops there.

    ``init`` ("xavier", "orthogonal", "torch", "uniform", "identity") is applied to
    each gate's block separately; ``forget_bias`` is the forget gate's initial bias
    and ``input_bias`` the input gate's (0 by default; a negative one with a large
    forget bias, as in chrono initialisation (Tallec & Ollivier 2018), keeps the cell
    from filling up with early noise on very long sequences).
    ``activation`` exists only so stacks built for any cell can pass it: None
    (or "tanh", which is what the cell uses) is accepted, anything else is a ValueError.
    """

    gates = 4
    gate_names = ("i", "f", "g", "o")

    def __init__(self, input_size, hidden_size, seed=None, dtype=None, reverse=False, forget_bias=1.0,
                 input_bias=0.0, init="xavier", init_scale=1.0, activation=None):
        super().__init__(input_size, hidden_size, seed=seed, dtype=dtype, reverse=reverse, init=init,
                         init_scale=init_scale, activation=activation)
        self.params["b"][:hidden_size] = input_bias
        self.params["b"][hidden_size:2 * hidden_size] = forget_bias

    def _initial_state(self, s0, B, dtype):
        H = self.hidden_size
        if s0 is None:
            return xp.zeros((B, H), dtype=dtype), xp.zeros((B, H), dtype=dtype)
        if not isinstance(s0, (tuple, list)) or len(s0) != 2:
            raise ValueError(f"s0: an LSTM's state is an (h, c) pair of ({B}, {H}) arrays, got {type(s0).__name__}")
        h0, c0 = s0
        self._check_state("s0 (h)", h0, B)
        self._check_state("s0 (c)", c0, B)
        return h0, c0

    def _exp_scale(self, dtype):
        """(4H,) multipliers: -1 for the sigmoid gates i, f, o and -2 for the tanh block g.

        σ(v) = 1 / (1 + e^{-v}) and tanh(v) = 2 σ(2v) - 1, so all four gates come
        from ONE e^x over the whole (B, 4H) row, e^{net ⊙ s} with s this vector,
        then 1 / (1 + ·), and 2 · - 1 on the g block. NumPy's float32 e^x takes
        half the time of its tanh.
        """
        H = self.hidden_size
        s = xp.full(4 * H, -1.0, dtype=dtype)
        s[2 * H:3 * H] = -2.0
        return s

    @step_threads  # BLAS's threads for the loop, chosen by measuring (rnnkit.parallel)
    def forward(self, x, s0=None):
        W = self.params["W"]
        H = self.hidden_size
        gates = self.input_projection(x)  # U x_t + b for all t; becomes [i f g o] in place
        T, B = gates.shape[:2]
        h0, c0 = self._initial_state(s0, B, W.dtype)
        hs = xp.empty((T, B, H), dtype=W.dtype)
        cs = xp.empty((T, B, H), dtype=W.dtype)
        tanh_cs = xp.empty((T, B, H), dtype=W.dtype)
        s = self._exp_scale(W.dtype)
        # net_t ⊙ s = (U x_t + b) ⊙ s + h_{t-1} (W ⊙ s)^T: scale once here, not at every step.
        gates *= s
        Ws = W * s[:, None]
        WhT = xp.empty((4 * H, B), dtype=W.dtype)
        ig = xp.empty((B, H), dtype=W.dtype)
        h_prev, c_prev = h0, c0
        # e^{-net} overflows to inf for net < -88 (float32) and 1 / (1 + inf) = 0 is the limit.
        with xp.errstate(over="ignore"):
            for t in self._steps(T):
                z = gates[t]
                # As columns, (W h_{t-1}^T)^T, for the reason the Elman layer gives (recurrent.py).
                z += xp.matmul(Ws, h_prev.T, out=WhT).T        # net_t = U x_t + W h_{t-1} + b (⊙ s)
                xp.exp(z, out=z)
                z += 1.0
                xp.reciprocal(z, out=z)                        # i, f, o = σ(net[i, f, o]); σ(2 net[g]) in g
                i, f, g, o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
                g *= 2.0
                g -= 1.0                                       # g_t = tanh(net[g]) = 2 σ(2 net[g]) - 1
                c = cs[t]
                xp.multiply(f, c_prev, out=c)                  # c_t = f_t ⊙ c_{t-1}
                xp.multiply(i, g, out=ig)
                c += ig                                        #       + i_t ⊙ g_t
                xp.tanh(c, out=tanh_cs[t])
                xp.multiply(o, tanh_cs[t], out=hs[t])          # h_t = o_t ⊙ tanh(c_t)
                h_prev, c_prev = hs[t], c
        self.final_state = (h_prev.copy(), c_prev.copy())
        self._cache = (x, h0, c0, gates, hs, cs, tanh_cs)
        return hs

    @step_threads
    def backward(self, dstates):
        if self._cache is None:
            raise RuntimeError("backward() called before forward()")
        x, h0, c0, gates, hs, cs, tanh_cs = self._cache
        check_array("dstates", dstates, 3, hs.shape)
        W = self.params["W"]
        T, B, H = hs.shape
        g4 = gates.reshape(T, B, 4, H)
        i, f, g, o = g4[:, :, 0], g4[:, :, 1], g4[:, :, 2], g4[:, :, 3]
        # Every factor of the BPTT equations that does not depend on the recurrence,
        # for all steps at once (whole-array work instead of per-step calls):
        k_c = o * (1.0 - tanh_cs * tanh_cs)          # dc_t += dh_t ⊙ o_t ⊙ tanh'(c_t)
        k_o = tanh_cs * o * (1.0 - o)                # δo_t = dh_t ⊙ tanh(c_t) ⊙ σ'(net_o)
        k_ifg = xp.empty((T, B, 3, H), dtype=W.dtype)
        xp.multiply(g, i * (1.0 - i), out=k_ifg[:, :, 0])                      # δi_t = dc_t ⊙ g_t ⊙ σ'(net_i)
        xp.multiply(self._previous(c0, cs), f * (1.0 - f), out=k_ifg[:, :, 1])  # δf_t = dc_t ⊙ c_{t-1} ⊙ σ'(net_f)
        xp.multiply(i, 1.0 - g * g, out=k_ifg[:, :, 2])                        # δg_t = dc_t ⊙ i_t ⊙ tanh'(net_g)
        delta4 = xp.empty((T, B, 4, H), dtype=W.dtype)  # δ_t = dE/dnet_t, blocks i, f, g, o
        delta = delta4.reshape(T, B, 4 * H)
        dh_next = xp.zeros((B, H), dtype=W.dtype)  # δ_{t+1} W: dE/dh_t through the next step
        dc = xp.zeros((B, H), dtype=W.dtype)       # dE/dc_t through the next step's cell
        for t in reversed(self._steps(T)):
            dh = dstates[t] + dh_next                          # dh_t = dstates[t] + δ_{t+1} W
            dc += dh * k_c[t]                                  # dc_t = dc_{t+1} ⊙ f_{t+1} + dh_t ⊙ o_t ⊙ tanh'(c_t)
            xp.multiply(dh, k_o[t], out=delta4[t, :, 3])       # δo_t
            xp.multiply(dc[:, None, :], k_ifg[t], out=delta4[t, :, :3])  # δi_t, δf_t, δg_t
            dc *= f[t]                                         # dE/dc_{t-1} through c_t = f_t ⊙ c_{t-1} + …
            dh_next = delta[t] @ W                             # dE/dh_{t-1} through net_t = … + W h_{t-1}
        # ∇W = Σ_t δ_t h_{t-1}^T: all steps in one product.
        self.grads["W"] += delta.reshape(T * B, 4 * H).T @ self._previous(h0, hs).reshape(T * B, H)  # ∇W = Σ_t δ_t h_{t-1}^T
        dx = self._input_gradients(x, delta)
        return dx, (dh_next, dc)
