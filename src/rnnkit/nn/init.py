"""Initialisers for the input weights U and the recurrent weights W.

The vanishing/exploding behaviour of 式3 depends on the norm of W (docs/article.md §6), so
the choice of initial W is one of the remedies the article names:

- ``uniform``: the article's own small uniform values, U, W ~ U(-1e-4, 1e-4);
- ``xavier``: Glorot uniform, U, W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out));
- ``orthogonal``: U Glorot, W a random orthogonal matrix (all singular values 1);
- ``identity``: U ~ N(0, 0.001^2) and W = scale * I (Le, Jaitly & Hinton 2015),
  which with ReLU keeps the error term alive over long distances;
- ``torch``: U, W ~ U(-1/sqrt(hidden), 1/sqrt(hidden)), PyTorch's default.
"""

from rnnkit.backend import xp

INITS = ("uniform", "xavier", "orthogonal", "identity", "torch")


def glorot_uniform(rng, shape, dtype):
    fan_out, fan_in = shape
    a = (6.0 / (fan_in + fan_out)) ** 0.5
    return rng.uniform(-a, a, size=shape).astype(dtype)


def orthogonal(rng, n, dtype):
    q, r = xp.linalg.qr(rng.standard_normal((n, n)))
    # Fixing the signs by diag(r) makes the distribution uniform over orthogonal matrices.
    return (q * xp.sign(xp.diag(r))).astype(dtype)


def init_weights(init, rng, hidden_size, input_size, dtype, scale=1.0):
    """(U, W) of shapes (hidden, input) and (hidden, hidden) for scheme ``init``.

    ``scale`` multiplies W (the identity scale, or a gain for the others).
    """
    if init == "uniform":
        U = rng.uniform(-1e-4, 1e-4, size=(hidden_size, input_size))
        W = rng.uniform(-1e-4, 1e-4, size=(hidden_size, hidden_size))
    elif init == "xavier":
        U = glorot_uniform(rng, (hidden_size, input_size), dtype)
        W = glorot_uniform(rng, (hidden_size, hidden_size), dtype)
    elif init == "orthogonal":
        U = glorot_uniform(rng, (hidden_size, input_size), dtype)
        W = orthogonal(rng, hidden_size, dtype)
    elif init == "identity":
        U = rng.normal(0.0, 0.001, size=(hidden_size, input_size))
        W = xp.eye(hidden_size)
    elif init == "torch":
        k = 1.0 / hidden_size**0.5
        U = rng.uniform(-k, k, size=(hidden_size, input_size))
        W = rng.uniform(-k, k, size=(hidden_size, hidden_size))
    else:
        raise ValueError(f"unknown init {init!r}; expected one of {', '.join(INITS)}")
    return xp.asarray(U, dtype=dtype), xp.asarray(W * scale, dtype=dtype)
