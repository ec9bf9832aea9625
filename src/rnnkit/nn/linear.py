"""The output layer's linear map (式1 without g): o_t = V s_t + c, at every time step."""

from functools import partial

from rnnkit.backend import as_dtype, rng as make_rng, xp
from rnnkit.nn.init import glorot_uniform
from rnnkit.nn.module import Module, check_float


class Linear(Module):
    """Parameters V (out x in) and c (out).

    forward(x (..., in)) -> (..., out)      any leading shape, e.g. (T, B, in)
    backward(dout (..., out)) -> dx (..., in)
    """

    ROWS_PER_PIECE = 1024  # of ∇V, when backward defers it: 1,024 x N x in multiply-adds a piece

    def __init__(self, in_features, out_features, seed=None, dtype=None, bias=True):
        super().__init__()
        dtype = as_dtype(dtype)
        self.in_features, self.out_features = in_features, out_features
        self.add_param("V", glorot_uniform(make_rng(seed), (out_features, in_features), dtype))
        if bias:
            self.add_param("c", xp.zeros(out_features, dtype=dtype))
        self._x = None
        self.pending = []  # ∇V's pieces, when backward was told to defer them

    def forward(self, x, bias=True):
        """``bias=False`` leaves c out, for a caller that adds it later (FullSoftmax)."""
        V = self.params["V"]
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected last dimension {self.in_features}, got shape {tuple(x.shape)}")
        check_float("x", x, V.dtype)
        self._x = x
        out = x.reshape(-1, self.in_features) @ V.T  # 式1 before g: V s_t
        if bias and "c" in self.params:
            out += self.params["c"]
        return out.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dout, row_scale=None, defer_weight_grad=False):
        """``row_scale`` (N,), N = dout's rows: the gradient is row_scale[:, None] * dout.

        The factor is applied to the (N, in) operand and result of each product
        instead of the (N, out) dout, which for a language model is the large one
        (SoftmaxCrossEntropy.backward_rows).

        ``defer_weight_grad``: ∇V, which nothing in the backward pass needs, is
        not computed here but left in ``pending`` as independent pieces (callables,
        ROWS_PER_PIECE rows of V each) for the caller to run, for instance on the
        other core while BPTT runs (rnnkit.parallel.alongside). dout must stay as it is
        until they have run.
        """
        x = self._x
        if dout.shape != (*x.shape[:-1], self.out_features):
            raise ValueError(f"dout: expected shape {(*x.shape[:-1], self.out_features)}, got {tuple(dout.shape)}")
        d2 = dout.reshape(-1, self.out_features)
        x2 = x.reshape(-1, self.in_features)
        r = xp.ones(d2.shape[0], dtype=d2.dtype) if row_scale is None else row_scale
        xs = x2 if row_scale is None else x2 * r[:, None]
        gV = self.grads["V"]

        def weight_grad(lo, hi):
            gV[lo:hi] += d2[:, lo:hi].T @ xs  # ∇V = Σ_t δo_t s_t^T with δo_t = r_t dout_t

        if defer_weight_grad:
            self.pending = [partial(weight_grad, lo, lo + self.ROWS_PER_PIECE)
                            for lo in range(0, self.out_features, self.ROWS_PER_PIECE)]
        else:
            weight_grad(0, self.out_features)
        if "c" in self.params:
            # Σ_t δo_t as a matrix-vector product: BLAS reads the (N, out) array
            # once on every core, where sum(axis=0) makes a slower single-core pass.
            self.grads["c"] += r @ d2  # ∇c = Σ_t δo_t
        dx = d2 @ self.params["V"]  # ∂E/∂s_t = V^T δo_t
        if row_scale is not None:
            dx *= r[:, None]
        return dx.reshape(x.shape)
