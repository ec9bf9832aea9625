"""The Elman recurrent layer: 式2 forward over a sequence, BPTT (式3) backward.

    式2   s_t = f(U x_t + W s_{t-1} + b)          (the article's form plus a bias b)

Batched and time-major: x is (T, B, input), the states are (T, B, hidden). Row
vectors are used throughout, so U x_t for a whole batch is ``x_t @ U.T``.

With ``reverse=True`` the layer runs backwards in time, as the second hidden
layer of a bidirectional network (docs/article.md §3): s'_t = f(U' x_t + W' s'_{t+1}).
"""

from rnnkit.backend import as_dtype, rng as make_rng, xp
from rnnkit.nn.activations import get_activation
from rnnkit.nn.embedding import scatter_add_rows
from rnnkit.nn.init import init_weights
from rnnkit.nn.module import Module, check_array, check_float
from rnnkit.parallel import step_threads


class Recurrent(Module):
    """Elman layer with parameters U (hidden x input), W (hidden x hidden), b (hidden).

    forward(x, s0=None) -> states          x: (T, B, input) floats, or (T, B) token ids
                                           s0: (B, hidden) or None for zeros
                                           states: (T, B, hidden)
    backward(dstates) -> (dx, ds0)         dstates: (T, B, hidden), dE/ds_t for every t

    Token ids as input mean one-hot vectors: U times a one-hot vector is one
    column of U, so the layer looks the column up instead of building a
    vocabulary-sized vector (docs/article.md §7).

    Truncated BPTT: pass ``layer.final_state`` of one chunk as ``s0`` of the
    next; the gradient stops there because s0 is an input, not a computation.
    """

    def __init__(self, input_size, hidden_size, activation="tanh", init="xavier", seed=None,
                 dtype=None, reverse=False, init_scale=1.0):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size and hidden_size must be positive, got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.f = get_activation(activation)
        self.reverse = reverse
        dtype = as_dtype(dtype)
        U, W = init_weights(init, make_rng(seed), hidden_size, input_size, dtype, scale=init_scale)
        self.add_param("U", U)
        self.add_param("W", W)
        self.add_param("b", xp.zeros(hidden_size, dtype=dtype))
        self.final_state = None
        self._cache = None

    def _steps(self, T):
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def input_projection(self, x):
        """U x_t + b for every time step at once: one matrix multiply, (T, B, hidden)."""
        U, b = self.params["U"], self.params["b"]
        if x.dtype.kind in "iu":
            check_array("x (token ids)", x, 2)
            if x.size and (x.min() < 0 or x.max() >= self.input_size):
                raise ValueError(f"x: token ids must lie in [0, {self.input_size}), got {x.min()}..{x.max()}")
            net = U.T[x]  # 式2: U x_t, a column lookup == U @ one_hot(x) (docs/article.md §7)
        else:
            check_array("x", x, 3, (None, None, self.input_size))
            check_float("x", x, U.dtype)
            T, B, _ = x.shape
            net = (x.reshape(T * B, self.input_size) @ U.T).reshape(T, B, self.hidden_size)  # 式2: U x_t
        net += b
        return net

    @step_threads  # BLAS's threads for the loop, chosen by measuring (rnnkit.parallel)
    def forward(self, x, s0=None):
        W = self.params["W"]
        states = self.input_projection(x)  # holds net_t until f overwrites it with s_t
        T, B = states.shape[:2]
        if s0 is None:
            s0 = xp.zeros((B, self.hidden_size), dtype=W.dtype)
        else:
            check_array("s0", s0, 2, (B, self.hidden_size))
            check_float("s0", s0, W.dtype)
        s_prev = s0
        Ws = xp.empty((self.hidden_size, B), dtype=W.dtype)  # W s_{t-1} for the batch, one column each
        for t in self._steps(T):
            net_t = states[t]
            # (W s_{t-1}^T)^T rather than s_{t-1} W^T: the same numbers, but OpenBLAS
            # then splits the hidden units, not the batch of 20, between its threads
            # (docs/performance.md: 190 against 250-300 µs a step at H = 650).
            net_t += xp.matmul(W, s_prev.T, out=Ws).T   # 式2: net_t = U x_t + W s_{t-1} + b
            s_prev = self.f.forward(net_t, out=net_t)  # 式2: s_t = f(net_t)
        self.final_state = s_prev.copy()
        self._cache = (x, s0, states)
        return states

    def previous_states(self, s0, states):
        """s_{t-1} for every t as one (T, B, hidden) array (s'_{t+1} when reversed)."""
        if self.reverse:
            return xp.concatenate([states[1:], s0[None]], axis=0)
        return xp.concatenate([s0[None], states[:-1]], axis=0)

    @step_threads
    def backward(self, dstates):
        if self._cache is None:
            raise RuntimeError("backward() called before forward()")
        x, s0, states = self._cache
        check_array("dstates", dstates, 3, states.shape)
        U, W = self.params["U"], self.params["W"]
        T, B, H = states.shape
        delta = xp.empty_like(states)
        WT = xp.ascontiguousarray(W.T)
        dsT = xp.zeros((H, B), dtype=W.dtype)  # dE/ds_t arriving from step t+1, one column per stream
        for t in reversed(self._steps(T)):
            # δ_t = dE/dnet_t = (dE/ds_t) ⊙ f'(net_t), f' from the stored s_t.
            xp.multiply(dstates[t] + dsT.T, self.f.derivative(states[t]), out=delta[t])
            # 式3, one step: δ_{t-1}^T = δ_t^T W diag[f'(net_{t-1})]; the diag factor
            # is applied at the top of the next iteration, with s_{t-1}'s own f'.
            # Computed as W^T δ_t^T, columns, for the reason given in forward.
            xp.matmul(WT, delta[t].T, out=dsT)
        ds = xp.ascontiguousarray(dsT.T)
        flat_delta = delta.reshape(T * B, H)
        # ∇W = Σ_t δ_t s_{t-1}^T and ∇U = Σ_t δ_t x_t^T: all steps in one product each.
        self.grads["W"] += flat_delta.T @ self.previous_states(s0, states).reshape(T * B, H)  # ∇W = Σ_t δ_t s_{t-1}^T
        self.grads["b"] += flat_delta.sum(axis=0)  # ∇b = Σ_t δ_t
        if x.dtype.kind in "iu":
            scatter_add_rows(self.grads["U"].T, x.reshape(-1), flat_delta)  # ∇U = Σ_t δ_t x_t^T, x_t one-hot
            dx = None  # token ids have no gradient
        else:
            self.grads["U"] += flat_delta.T @ x.reshape(T * B, self.input_size)  # ∇U = Σ_t δ_t x_t^T
            dx = (flat_delta @ U).reshape(T, B, self.input_size)  # 式4: δ_t^T U; the layer below applies its f'
        return dx, ds
