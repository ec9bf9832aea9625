"""What the gated cells (LSTM, GRU) share: construction, the input projection, state checks.

A gated cell has G gate blocks of H units each (LSTM: G = 4, GRU: G = 3) and
keeps the Elman layer's names (docs/article.md §2) for the stacked blocks:

    U (G*H x input)   the input weights of every gate, one block of H rows per gate
    W (G*H x H)       the recurrent weights of every gate
    b (G*H)           the biases

so that, as in 式2, the pre-activations of all gates at step t are the one
affine map  net_t = U x_t + W h_{t-1} + b,  split into G blocks afterwards.
The part U x_t + b does not depend on the recurrence, so it is computed for all
time steps in a single matrix multiply; each step then adds one (B, H) x (H, G*H)
product for W h_{t-1}.
"""

from rnnkit.backend import as_dtype, rng as make_rng, xp
from rnnkit.nn.embedding import scatter_add_rows
from rnnkit.nn.init import init_weights
from rnnkit.nn.module import Module, check_array, check_float


class GatedRecurrent(Module):
    """Base class: ``gates`` blocks of ``hidden_size`` units; subclasses write forward/backward."""

    gates = None  # number of gate blocks (set by the subclass)
    gate_names = ()  # their names, in the order of the blocks in U, W and b

    def __init__(self, input_size, hidden_size, seed=None, dtype=None, reverse=False, init="xavier",
                 init_scale=1.0, activation=None):
        super().__init__()
        if activation not in (None, "tanh"):
            # The gates use sigmoid and the candidate tanh by definition; a stack
            # built with cell_kwargs meant for the Elman layer must not silently
            # get a different network than it asked for.
            raise ValueError(f"{type(self).__name__} has fixed nonlinearities (sigmoid gates, tanh candidate); "
                             f"activation={activation!r} is not supported (pass activation=None)")
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size and hidden_size must be positive, got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.reverse = reverse
        dtype = as_dtype(dtype)
        rng = make_rng(seed)
        # Each gate's block is initialised as a separate (H x input, H x H) pair, so
        # that e.g. orthogonal init makes every gate's W orthogonal on its own.
        blocks = [init_weights(init, rng, hidden_size, input_size, dtype, scale=init_scale) for _ in range(self.gates)]
        self.add_param("U", xp.ascontiguousarray(xp.concatenate([u for u, _ in blocks], axis=0)))
        self.add_param("W", xp.ascontiguousarray(xp.concatenate([w for _, w in blocks], axis=0)))
        self.add_param("b", xp.zeros(self.gates * hidden_size, dtype=dtype))
        self.final_state = None
        self._cache = None

    def _steps(self, T):
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def _previous(self, first, seq):
        """x_{t-1} for every t as one (T, B, H) array, ``first`` at the start (x_{t+1} when reversed)."""
        if self.reverse:
            return xp.concatenate([seq[1:], first[None]], axis=0)
        return xp.concatenate([first[None], seq[:-1]], axis=0)

    def input_projection(self, x):
        """U x_t + b for every time step and every gate: one matrix multiply, (T, B, G*H).

        Token ids (T, B) stand for one-hot vectors; U times a one-hot vector is one
        column of U, so it is looked up (docs/article.md §7).
        """
        U, b = self.params["U"], self.params["b"]
        if hasattr(x, "dtype") and x.dtype.kind in "iu":
            check_array("x (token ids)", x, 2)
            if x.size and (x.min() < 0 or x.max() >= self.input_size):
                raise ValueError(f"x: token ids must lie in [0, {self.input_size}), got {x.min()}..{x.max()}")
            net = U.T[x]  # column lookup == U @ one_hot(x)
        else:
            check_array("x", x, 3, (None, None, self.input_size))
            check_float("x", x, U.dtype)
            T, B, _ = x.shape
            net = (x.reshape(T * B, self.input_size) @ U.T).reshape(T, B, U.shape[0])
        net += b
        return net

    def _check_state(self, name, s, B):
        check_array(name, s, 2, (B, self.hidden_size))
        check_float(name, s, self.params["W"].dtype)

    def _input_gradients(self, x, delta):
        """∇U += Σ_t δ_t x_t^T (all steps in one product) and dx_t = U^T δ_t; delta is (T, B, G*H)."""
        T, B, GH = delta.shape
        flat = delta.reshape(T * B, GH)
        self.grads["b"] += flat.sum(axis=0)  # ∇b = Σ_t δ_t
        if x.dtype.kind in "iu":
            scatter_add_rows(self.grads["U"].T, x.reshape(-1), flat)  # ∇U = Σ_t δ_t x_t^T, x_t one-hot
            return None  # token ids have no gradient
        self.grads["U"] += flat.T @ x.reshape(T * B, self.input_size)  # ∇U = Σ_t δ_t x_t^T
        return (flat @ self.params["U"]).reshape(T, B, self.input_size)  # 式4: δ_t^T U
