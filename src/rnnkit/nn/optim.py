"""Optimisers and gradient clipping (docs/article.md §5 update, §6 remedy for exploding gradients).

Each optimiser updates the arrays of a ``params`` dict in place from the
matching ``grads`` dict. ``lr`` is a plain attribute so a schedule can change
it; ``state_dict()`` / ``load_state_dict()`` hold everything a resumed run
needs (step count and moment buffers).
"""

from rnnkit.backend import xp


class Optimizer:
    def __init__(self, params, grads, lr):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.params, self.grads, self.lr = params, grads, lr
        self.step_count = 0
        self.buffers = {}  # name -> dict of per-parameter arrays

    def _buffer(self, kind, name):
        slot = self.buffers.setdefault(kind, {})
        if name not in slot:
            slot[name] = xp.zeros_like(self.params[name])
        return slot[name]

    def step(self, grad_scale=1.0, rows=None):
        """One update from the current gradients, each multiplied by ``grad_scale``
        first (clip_scale: gradient clipping applied by the step itself).
        ``rows`` (Module.grad_rows) lets SGD skip the rows of row-sparse
        gradients that are zero; the other optimisers update every row (their
        moments move even where the gradient is zero)."""
        self.step_count += 1
        if grad_scale != 1.0:
            for g in self.grads.values():
                g *= grad_scale
        for name, p in self.params.items():
            self.update(name, p, self.grads[name])

    def update(self, name, p, g):
        raise NotImplementedError

    def state_dict(self):
        arrays = {f"{kind}/{name}": a for kind, slot in self.buffers.items() for name, a in slot.items()}
        return {"lr": self.lr, "step_count": self.step_count, "arrays": arrays}

    def load_state_dict(self, state):
        self.lr = float(state["lr"])
        self.step_count = int(state["step_count"])
        self.buffers = {}
        for key, a in state["arrays"].items():
            kind, name = key.split("/", 1)
            self.buffers.setdefault(kind, {})[name] = xp.array(a, dtype=self.params[name].dtype)


# Large arrays are updated in pieces of this many elements: the temporary
# lr * g of a piece (4 MB) is reused from the heap, where one as large as a
# 40,000-word embedding (34 MB) is fresh pages from the kernel at every step
# (measured: 23 ms against 9.5 for two such arrays, docs/performance.md).
PIECE = 1 << 20


def pieces(p, g):
    """(p, g) as aligned pieces of at most PIECE elements (views), or whole if small or not contiguous."""
    if p.size <= PIECE or not (p.flags.c_contiguous and g.flags.c_contiguous):
        yield p, g
        return
    pf, gf = p.reshape(-1), g.reshape(-1)
    for lo in range(0, pf.size, PIECE):
        yield pf[lo:lo + PIECE], gf[lo:lo + PIECE]


class SGD(Optimizer):
    """The article's update: w <- w - lr * ∇w."""

    def step(self, grad_scale=1.0, rows=None):
        # The clipping factor goes into the learning rate: no pass over the
        # gradients of its own (they are left unscaled).
        self.step_count += 1
        lr = self.lr * grad_scale
        for name, p in self.params.items():
            g = self.grads[name]
            if rows is not None and name in rows:
                r = rows[name]
                p[r] -= lr * g[r]  # the other rows' gradient is zero
                continue
            for p_, g_ in pieces(p, g):
                p_ -= lr * g_


class Momentum(Optimizer):
    """SGD with momentum (PyTorch's form): v <- mu v + g; w <- w - lr v."""

    def __init__(self, params, grads, lr, momentum=0.9):
        super().__init__(params, grads, lr)
        self.momentum = momentum

    def update(self, name, p, g):
        v = self._buffer("v", name)
        v *= self.momentum
        v += g
        p -= self.lr * v


class Adagrad(Optimizer):
    """Adagrad: per-weight steps shrink with the sum of squared past gradients."""

    def __init__(self, params, grads, lr, eps=1e-10):
        super().__init__(params, grads, lr)
        self.eps = eps

    def update(self, name, p, g):
        acc = self._buffer("sum_sq", name)
        acc += g * g
        p -= self.lr * g / (xp.sqrt(acc) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias-corrected first and second moments."""

    def __init__(self, params, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, grads, lr)
        self.beta1, self.beta2 = betas
        self.eps = eps

    def update(self, name, p, g):
        m, v = self._buffer("m", name), self._buffer("v", name)
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        m_hat_scale = 1.0 / (1 - self.beta1**self.step_count)
        v_hat_scale = 1.0 / (1 - self.beta2**self.step_count)
        p -= self.lr * (m * m_hat_scale) / (xp.sqrt(v * v_hat_scale) + self.eps)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": Adagrad, "adam": Adam}


def make_optimizer(name, params, grads, lr, **kwargs):
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, grads, lr, **kwargs)


def global_norm(grads, rows=None):
    """sqrt of the sum of every squared gradient element.

    Each array's sum of squares is one BLAS dot product in the array's own
    precision; the sum over arrays is float64.

    ``rows`` (Module.grad_rows): row-sparse gradients are read in those rows only.
    """
    total = 0.0
    for name, g in grads.items():
        if rows is not None and name in rows:
            g = g[rows[name]]
        total += float(xp.vdot(g.ravel(), g.ravel()))
    return total ** 0.5


def clip_scale(grads, max_norm, rows=None):
    """(global norm, the factor that brings it down to ``max_norm``; 1 if it is already below).

    For ``optimizer.step(grad_scale=factor)``: clipping without scaling the
    gradients in a pass of their own.
    """
    norm = global_norm(grads, rows)
    return norm, (max_norm / (norm + 1e-6) if max_norm and norm > max_norm else 1.0)


def clip_grad_norm(grads, max_norm):
    """Scale all gradients together so their global norm is at most ``max_norm``.

    Keeps the direction of the update and caps its length: the threshold the
    article proposes for exploding gradients. Returns the norm before clipping.
    """
    norm, scale = clip_scale(grads, max_norm)
    if scale != 1.0:
        for g in grads.values():
            g *= scale
    return norm


def clip_grad_value(grads, clip):
    """Clip every gradient element into [-clip, clip] (changes the direction)."""
    for g in grads.values():
        xp.clip(g, -clip, clip, out=g)
