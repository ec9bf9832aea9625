"""The GRU layer (Cho et al. 2014), in PyTorch's formulation so weights transfer exactly.

The other gated remedy for vanishing gradients that the article names (docs/article.md §6).
For row vectors and a whole batch, σ the logistic sigmoid, ⊙ element-wise:

    a_t = U x_t + b                                     (3H, for all t in one multiply)
    m_t = W h_{t-1}                                     (3H, one product per step)
    r_t = σ(a_t[0:H]   + m_t[0:H])                      reset gate
    z_t = σ(a_t[H:2H]  + m_t[H:2H])                     update gate
    q_t = m_t[2H:3H] + b_hn                             the recurrent part of the candidate
    n_t = tanh(a_t[2H:3H] + r_t ⊙ q_t)                  candidate state
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}               = n_t + z_t ⊙ (h_{t-1} - n_t)

The reset gate multiplies W_hn h_{t-1} + b_hn (PyTorch, cuDNN), not h_{t-1}
itself (Cho et al.'s paper), so the candidate's recurrent bias b_hn cannot be
folded into b: it is a parameter of its own. Gate order r, z, n is PyTorch's:
weight_ih -> U, weight_hh -> W, b = bias_ih + [bias_hh_r, bias_hh_z, 0],
b_hn = bias_hh_n (rnnkit.nn.from_torch).

Why it helps: ∂h_t/∂h_{t-1} contains diag[z_t] directly, so with the update
gate near 1 the error term passes many steps unchanged, instead of crossing
W diag[f'(net)] at every step as in 式3.

BPTT (implemented line by line in ``backward``), δ = dE/d(pre-activation):

    dh_t  = dstates[t] + dE/dh_t from step t+1
    δn_t  = dh_t ⊙ (1 - z_t) ⊙ (1 - n_t²)               to a_t[2H:3H]: U, b, x
    δq_t  = δn_t ⊙ r_t                                  to m_t[2H:3H] and b_hn
    δr_t  = δn_t ⊙ q_t ⊙ r_t (1 - r_t)                  to a_t[0:H] and m_t[0:H]
    δz_t  = dh_t ⊙ (h_{t-1} - n_t) ⊙ z_t (1 - z_t)      to a_t[H:2H] and m_t[H:2H]
    dE/dh_{t-1} = dh_t ⊙ z_t + [δr_t δz_t δq_t] W
    ∇U = Σ_t [δr δz δn]_t x_t^T,  ∇b = Σ_t [δr δz δn]_t,  dx_t = U^T [δr δz δn]_t
    ∇W = Σ_t [δr δz δq]_t h_{t-1}^T,  ∇b_hn = Σ_t δq_t

With ``reverse=True`` the layer runs backwards in time; h_{t-1} becomes h_{t+1}.
"""

from rnnkit.backend import xp
from rnnkit.nn.activations import get_activation
from rnnkit.nn.gated import GatedRecurrent
from rnnkit.nn.module import check_array
from rnnkit.parallel import step_threads

_sigmoid = get_activation("sigmoid")


class GRU(GatedRecurrent):
    """GRU layer with parameters U (3H x input), W (3H x H), b (3H), b_hn (H); gate blocks r, z, n.

    forward(x, s0=None) -> states          x: (T, B, input) floats, or (T, B) token ids
                                           s0: (B, H) or None for zeros
                                           states: (T, B, H)
    backward(dstates) -> (dx, ds0)         dstates: (T, B, H), dE/dh_t for every t

    ``final_state`` is h after the last step (carry it as the next chunk's s0
    for truncated BPTT). ``init`` is applied to each gate's block separately;
    ``update_bias`` is the update gate's initial bias (0 as in PyTorch; a
    positive value makes the layer start by keeping its state, as a forget-gate
    bias does for the LSTM). ``activation``: None or "tanh" only, as for the LSTM.
    """

    gates = 3
    gate_names = ("r", "z", "n")

    def __init__(self, input_size, hidden_size, seed=None, dtype=None, reverse=False, init="xavier",
                 init_scale=1.0, update_bias=0.0, activation=None):
        super().__init__(input_size, hidden_size, seed=seed, dtype=dtype, reverse=reverse, init=init,
                         init_scale=init_scale, activation=activation)
        self.params["b"][hidden_size:2 * hidden_size] = update_bias
        self.add_param("b_hn", xp.zeros(hidden_size, dtype=self.params["W"].dtype))

    @step_threads  # BLAS's threads for the loop, chosen by measuring (rnnkit.parallel)
    def forward(self, x, s0=None):
        W, b_hn = self.params["W"], self.params["b_hn"]
        H = self.hidden_size
        gates = self.input_projection(x)  # a_t; the r, z blocks become r_t, z_t and the n block n_t, in place
        T, B = gates.shape[:2]
        if s0 is None:
            s0 = xp.zeros((B, H), dtype=W.dtype)
        else:
            self._check_state("s0", s0, B)
        hs = xp.empty((T, B, H), dtype=W.dtype)
        qs = xp.empty((T, B, H), dtype=W.dtype)  # q_t = W_n h_{t-1} + b_hn, needed by δr_t and δq_t
        mT = xp.empty((3 * H, B), dtype=W.dtype)
        h_prev = s0
        for t in self._steps(T):
            a = gates[t]
            # Columns, W h_{t-1}^T, for the reason the Elman layer gives (recurrent.py).
            m = xp.matmul(W, h_prev.T, out=mT).T               # m_t = W h_{t-1}, (B, 3H)
            a[:, :2 * H] += m[:, :2 * H]
            _sigmoid.forward(a[:, :2 * H], out=a[:, :2 * H])    # r_t, z_t = σ(a_t + m_t)
            r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            q = qs[t]
            xp.add(m[:, 2 * H:], b_hn, out=q)                  # q_t = W_n h_{t-1} + b_hn
            n += r * q                                         # a_t[n] + r_t ⊙ q_t
            xp.tanh(n, out=n)                                  # n_t = tanh(…)
            h = hs[t]
            xp.subtract(h_prev, n, out=h)
            h *= z
            h += n                                             # h_t = n_t + z_t ⊙ (h_{t-1} - n_t)
            h_prev = h
        self.final_state = h_prev.copy()
        self._cache = (x, s0, gates, qs, hs)
        return hs

    @step_threads
    def backward(self, dstates):
        if self._cache is None:
            raise RuntimeError("backward() called before forward()")
        x, s0, gates, qs, hs = self._cache
        check_array("dstates", dstates, 3, hs.shape)
        W = self.params["W"]
        T, B, H = hs.shape
        delta_in = xp.empty_like(gates)   # [δr δz δn]_t: reaches U, b and x
        delta_rec = xp.empty_like(gates)  # [δr δz δq]_t: reaches W (and b_hn through δq)
        h_prev_all = self._previous(s0, hs)
        dh_next = xp.zeros((B, H), dtype=W.dtype)  # dE/dh_t arriving from step t+1
        for t in reversed(self._steps(T)):
            a = gates[t]
            r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            di, dr_ = delta_in[t], delta_rec[t]
            dh = dstates[t] + dh_next                                          # dh_t
            xp.multiply(dh * (1.0 - z), 1.0 - n * n, out=di[:, 2 * H:])        # δn_t
            xp.multiply(di[:, 2 * H:], r, out=dr_[:, 2 * H:])                  # δq_t = δn_t ⊙ r_t
            xp.multiply(di[:, 2 * H:] * qs[t], r * (1.0 - r), out=di[:, :H])   # δr_t
            xp.multiply(dh * (h_prev_all[t] - n), z * (1.0 - z), out=di[:, H:2 * H])  # δz_t
            dr_[:, :2 * H] = di[:, :2 * H]                     # r and z see W h_{t-1} like U x_t
            dh_next = dr_ @ W                                  # [δr δz δq]_t W
            dh_next += dh * z                                  # + dh_t ⊙ z_t (the direct path)
        # ∇W = Σ_t [δr δz δq]_t h_{t-1}^T and ∇b_hn = Σ_t δq_t: all steps in one product each.
        flat_rec = delta_rec.reshape(T * B, 3 * H)
        self.grads["W"] += flat_rec.T @ h_prev_all.reshape(T * B, H)  # ∇W = Σ_t δ_t h_{t-1}^T
        self.grads["b_hn"] += flat_rec[:, 2 * H:].sum(axis=0)
        dx = self._input_gradients(x, delta_in)
        return dx, dh_next
