"""The contract every layer follows, and the shape checks they share.

A layer owns ``params`` and ``grads``: flat dicts of arrays with the same keys.
Composite layers build theirs from their children's under dotted names
("layers.0.fw.U"), holding the very same array objects, so an optimiser, a
gradient check or a file writer can walk any network through one dict. For
that to hold, every update is made in place (``p -= lr * g``, ``g[...] = 0``).

``forward`` keeps what ``backward`` needs; ``backward`` accumulates parameter
gradients into ``grads`` and returns the gradients of the inputs.

Row-sparse gradients: a layer whose gradient touches few rows of a large
parameter (an embedding reads 700 of its 10,000 rows per window) declares it
with ``sparse_rows(name)`` and reports each write with ``touched(name, rows)``.
``grad_rows()`` then tells zero_grad, clipping and SGD which rows can be
non-zero, and they skip the rest. Every other write to such a gradient must go
through ``touched``; an array shared by two layers (tied weights) is dense.
"""

from rnnkit.backend import xp


class Module:
    def __init__(self):
        self.params = {}
        self.grads = {}
        self.training = True
        self._children = {}
        self._rows = {}  # name -> row-index arrays written since zero_grad, for row-sparse gradients

    def add_param(self, name, value):
        """Register an array as a parameter with a zero gradient of the same shape."""
        self.params[name] = value
        self.grads[name] = xp.zeros_like(value)
        return value

    def add_child(self, name, module):
        """Adopt a sub-layer: its parameters appear here as ``name.<its key>``."""
        self._children[name] = module
        known = {id(v) for v in self.params.values()}
        for key, value in module.params.items():
            # A shared array (tied weights) is listed once, so an optimiser
            # steps it once with the sum of both uses' gradients.
            if id(value) in known:
                self._make_dense(value, module)
                continue
            self.params[f"{name}.{key}"] = value
            self.grads[f"{name}.{key}"] = module.grads[key]
        return module

    def _make_dense(self, array, *extra):
        """Drop row-sparsity for ``array`` wherever it is a parameter: a second writer may touch any row."""
        stack = [self, *extra]
        while stack:
            module = stack.pop()
            for key, value in module.params.items():
                if value is array:
                    module._rows.pop(key, None)
            stack.extend(module._children.values())

    # --- row-sparse gradients ----------------------------------------------

    def sparse_rows(self, name):
        """Declare ``grads[name]`` row-sparse: it is only ever written through ``touched``."""
        self._rows[name] = []

    def touched(self, name, rows):
        """Record that ``grads[name]`` was written in ``rows`` (no-op for a dense gradient)."""
        if name in self._rows:
            self._rows[name].append(rows)

    def grad_rows(self):
        """{name: sorted row indices} for every row-sparse gradient: it is zero outside those rows."""
        out = {name: xp.unique(xp.concatenate(parts)) if parts else xp.zeros(0, dtype=xp.intp)
               for name, parts in self._rows.items()}
        for child_name, child in self._children.items():
            for key, rows in child.grad_rows().items():
                name = f"{child_name}.{key}"
                if self.grads.get(name) is child.grads[key]:
                    out[name] = rows
        return out

    def _forget_rows(self):
        for parts in self._rows.values():
            parts.clear()
        for child in self._children.values():
            child._forget_rows()

    def zero_grad(self, written=None):
        """Zero every gradient (the rows a row-sparse one was written in). ``written``
        ({name: row indices, or None for all}): zero those and nothing else, for a caller
        that knows the others are zero (dynamic evaluation, which keeps ∇V out of grads)."""
        if written is not None:
            for name, rows in written.items():
                if rows is None:
                    self.grads[name].fill(0)
                else:
                    self.grads[name][rows] = 0
            self._forget_rows()
            return
        rows = self.grad_rows()
        for name, g in self.grads.items():
            if name in rows:
                g[rows[name]] = 0
            else:
                g.fill(0)
        self._forget_rows()

    def train(self, mode=True):
        """Training mode (dropout active) or, with mode=False, evaluation mode."""
        self.training = mode
        for child in self._children.values():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    @property
    def dtype(self):
        return next(iter(self.params.values())).dtype if self.params else None

    def num_params(self):
        return int(sum(p.size for p in self.params.values()))


def check_array(name, x, ndim, shape=None, dtype=None):
    """Raise a ValueError naming the expected and received shape or dtype.

    ``shape`` may hold None for sizes that are free (time and batch). Catching
    this here keeps a wrong input from turning into a broadcasting accident
    several matrix products later.
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise ValueError(f"{name}: expected an array, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions {_fmt(shape, ndim)}, got shape {tuple(x.shape)}")
    if shape is not None:
        for want, got in zip(shape, x.shape):
            if want is not None and want != got:
                raise ValueError(f"{name}: expected shape {_fmt(shape, ndim)}, got {tuple(x.shape)}")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {dtype}, got {x.dtype}")


def check_float(name, x, dtype):
    if x.dtype.kind != "f":
        raise ValueError(f"{name}: expected a floating-point array ({dtype}), got dtype {x.dtype}")
    if x.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {dtype} (the layer's dtype), got {x.dtype}")


def _fmt(shape, ndim):
    if shape is None:
        return "(" + ", ".join("?" * ndim) + ")" if ndim else "()"
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def tree_leaves(state):
    """The arrays of a nested state (an array, or tuples/lists of states), in order.

    States are nested because layers differ: an Elman layer's state is one
    array (B, H), an LSTM's the pair (h, c), a bidirectional layer's a pair of
    its directions' states, a stack's a list of its layers' states.
    """
    if state is None:
        return []
    if isinstance(state, (tuple, list)):
        return [leaf for item in state for leaf in tree_leaves(item)]
    return [state]


def tree_map(fn, state):
    """The same nesting as ``state`` with ``fn`` applied to every array."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(tree_map(fn, item) for item in state)
    return fn(state)
