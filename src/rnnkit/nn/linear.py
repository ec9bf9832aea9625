"""The output layer's linear map (式1 without g): o_t = V s_t + c, at every time step."""

from rnnkit.backend import as_dtype, rng as make_rng, xp
from rnnkit.nn import _fast
from rnnkit.nn.init import glorot_uniform
from rnnkit.nn.module import Module, check_float


class Linear(Module):
    """Parameters V (out x in) and c (out).

    forward(x (..., in)) -> (..., out)      any leading shape, e.g. (T, B, in)
    backward(dout (..., out)) -> dx (..., in)
    """

    def __init__(self, in_features, out_features, seed=None, dtype=None, bias=True):
        super().__init__()
        dtype = as_dtype(dtype)
        self.in_features, self.out_features = in_features, out_features
        self.add_param("V", glorot_uniform(make_rng(seed), (out_features, in_features), dtype))
        if bias:
            self.add_param("c", xp.zeros(out_features, dtype=dtype))
        self._x = None

    def forward(self, x):
        V = self.params["V"]
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected last dimension {self.in_features}, got shape {tuple(x.shape)}")
        check_float("x", x, V.dtype)
        self._x = x
        out = x.reshape(-1, self.in_features) @ V.T  # 式1 before g: V s_t
        if "c" in self.params:
            out += self.params["c"]
        return out.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dout):
        x = self._x
        if dout.shape != (*x.shape[:-1], self.out_features):
            raise ValueError(f"dout: expected shape {(*x.shape[:-1], self.out_features)}, got {tuple(dout.shape)}")
        # ∇V = Σ_t δo_t s_t^T, ∇c = Σ_t δo_t, dx_t = V^T δo_t
        dx, _ = _fast.linear_backward(x.reshape(-1, self.in_features), dout.reshape(-1, self.out_features),
                                      self.params["V"], self.grads["V"], self.grads.get("c"))
        return dx.reshape(x.shape)
