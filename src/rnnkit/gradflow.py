"""Gradients flowing back through time: measure 式3 on real layers (docs/article.md §6).

The article's error term back through time (docs/article.md §5):

    式3   δ_k^T = δ_t^T ∏_{i=k}^{t-1} W diag[f'(net_i)]

so ‖δ_k‖ / ‖δ_t‖ shrinks or grows geometrically with the distance t - k when
the norms β_W of W and β_f of diag[f'(net)] multiply to less or more than 1.
This module measures that ratio on the engine's own layers, for every
distance at once, averaged over a batch of sequences:

- an error vector v (random, or the real loss gradient of a language model) is
  injected as dE/ds_t at the last step only, E = <v, s_t>;
- the error that reaches step k is read from the layer's own ``backward``: the
  layer is run from its state s_k over the remaining steps k+1..t, and the
  gradient it returns for that initial state is dE/ds_k (truncated BPTT with a
  window of t - k steps). Nothing is re-derived here, so what is measured is
  what training would use;
- for the Elman layer the article's δ_k = dE/dnet_k = dE/ds_k ⊙ f'(net_k);
  for LSTM and GRU, whose state is not one f(net), δ_k is dE/ds_k itself
  (for the LSTM both parts of the state (h_k, c_k), as one vector).

The second measurement, ``clipping_run``, trains one small network that
explodes, with and without clipping the global gradient norm (the article's
remedy for exploding gradients), and records the norm and the loss per step.
"""

import math

import numpy

from rnnkit.backend import rng as make_rng, xp
from rnnkit.nn.activations import ACTIVATIONS
from rnnkit.nn.init import INITS
from rnnkit.nn.module import tree_leaves
from rnnkit.nn.recurrent import Recurrent
from rnnkit.nn.stack import CELLS


# The default comparison: the failures and remedies of docs/article.md §6, one curve each.
# "group" puts the Elman configurations and the gated cells on separate panels.
PRESETS = [
    dict(cell="rnn", activation="tanh", init="orthogonal", init_scale=0.5, group="Elman",
         label="tanh, W = 0.5·orthogonal: vanishes"),
    dict(cell="rnn", activation="sigmoid", init="xavier", init_scale=1.0, group="Elman",
         label="sigmoid, W Xavier (f' ≤ 1/4): vanishes"),
    dict(cell="rnn", activation="tanh", init="orthogonal", init_scale=1.0, group="Elman",
         label="tanh, W orthogonal (‖W‖ = 1): fades"),
    dict(cell="rnn", activation="tanh", init="orthogonal", init_scale=3.0, group="Elman",
         label="tanh, W = 3·orthogonal: explodes"),
    dict(cell="rnn", activation="identity", init="orthogonal", init_scale=1.5, group="Elman",
         label="identity f, W = 1.5·orthogonal: explodes"),
    dict(cell="rnn", activation="relu", init="identity", init_scale=1.0, group="Elman",
         label="ReLU, W = I (IRNN): stays alive"),
    dict(cell="lstm", init="xavier", init_scale=1.0, group="gated",
         label="LSTM, forget bias 1 (rnnkit's default)"),
    dict(cell="lstm", init="xavier", init_scale=1.0, forget_bias=3.0, group="gated",
         label="LSTM, forget bias 3 (forget gate ≈ 0.95)"),
    dict(cell="gru", init="xavier", init_scale=1.0, group="gated",
         label="GRU, update bias 0 (PyTorch's default)"),
    dict(cell="gru", init="xavier", init_scale=1.0, update_bias=3.0, group="gated",
         label="GRU, update bias 3 (update gate ≈ 0.95)"),
]

CONFIG_KEYS = ("cell", "activation", "init", "init_scale", "hidden", "label", "forget_bias", "update_bias")


def parse_config(spec):
    """A configuration from "cell=rnn,activation=relu,init=identity,init_scale=1,label=IRNN".

    ``scale`` is accepted for ``init_scale``. Raises ValueError naming the bad part.
    """
    cfg = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"config {spec!r}: expected key=value pairs separated by commas, got {part!r}")
        key, value = (s.strip() for s in part.split("=", 1))
        key = {"scale": "init_scale", "act": "activation", "f": "activation"}.get(key, key)
        if key not in CONFIG_KEYS:
            raise ValueError(f"config {spec!r}: unknown key {key!r}; expected one of {', '.join(CONFIG_KEYS)}")
        if key in ("init_scale", "forget_bias", "update_bias"):
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"config {spec!r}: {key} must be a number, got {value!r}") from None
        elif key == "hidden":
            try:
                value = int(value)
            except ValueError:
                raise ValueError(f"config {spec!r}: hidden must be an integer, got {value!r}") from None
        cfg[key] = value
    return check_config(cfg)


def check_config(cfg):
    """Fill defaults and validate one configuration; ValueError with a one-line reason."""
    cfg = dict(cfg)
    cell = cfg.setdefault("cell", "rnn")
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; expected one of {', '.join(CELLS)}")
    if cell == "rnn":
        act = cfg.setdefault("activation", "tanh")
        if act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {act!r}; expected one of {', '.join(ACTIVATIONS)}")
    elif cfg.get("activation") not in (None, "tanh"):
        raise ValueError(f"the {cell.upper()} cell has fixed nonlinearities; --activation applies to the rnn cell only")
    else:
        cfg.pop("activation", None)
    init = cfg.setdefault("init", "xavier")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of {', '.join(INITS)}")
    scale = cfg.setdefault("init_scale", 1.0)
    if not (isinstance(scale, (int, float)) and math.isfinite(scale)):
        raise ValueError(f"init_scale must be a finite number, got {scale!r}")
    if cfg.get("forget_bias") is not None and cell != "lstm":
        raise ValueError("forget_bias applies to the lstm cell only")
    if cfg.get("update_bias") is not None and cell != "gru":
        raise ValueError("update_bias applies to the gru cell only")
    cfg.setdefault("label", describe(cfg))
    return cfg


def describe(cfg):
    """A short legend label for a configuration."""
    if cfg["cell"] == "rnn":
        text = f"rnn, {cfg['activation']}, {cfg['init']}"
    else:
        text = f"{cfg['cell']}, {cfg['init']}"
    if cfg.get("init_scale", 1.0) != 1.0:
        text += f" ×{cfg['init_scale']:g}"
    for key in ("forget_bias", "update_bias"):
        if cfg.get(key) is not None:
            text += f", {key.replace('_', ' ')} {cfg[key]:g}"
    return text


def make_layer(cfg, input_size, hidden, seed=0, dtype=numpy.float64):
    """A fresh single layer for configuration ``cfg`` (see check_config)."""
    from rnnkit.nn.stack import get_cell

    cfg = check_config(cfg)
    hidden = cfg.get("hidden", hidden)
    kwargs = dict(init=cfg["init"], init_scale=cfg["init_scale"], seed=seed, dtype=dtype)
    if cfg["cell"] == "rnn":
        kwargs["activation"] = cfg["activation"]
    if cfg.get("forget_bias") is not None:
        kwargs["forget_bias"] = cfg["forget_bias"]
    if cfg.get("update_bias") is not None:
        kwargs["update_bias"] = cfg["update_bias"]
    return get_cell(cfg["cell"])(input_size, hidden, **kwargs)


# --- measuring the error term at every distance ---------------------------------


def _copy_state(state):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(_copy_state(s) for s in state)
    return state.copy()


def _step_states(module, x, s0):
    """[s_0, s_1, …, s_{T-1}]: the state after every step, by running one step at a time."""
    states, state = [], s0
    for t in range(x.shape[0]):
        module.forward(x[t:t + 1], state)
        state = _copy_state(module.final_state)
        states.append(state)
    return states


def _flat(state):
    """A nested state as one (B, n) array: every part side by side."""
    return xp.concatenate([leaf.reshape(leaf.shape[0], -1) for leaf in tree_leaves(state)], axis=1)


def _delta_from_state_grad(module, state, dstate):
    """The article's δ = dE/dnet from dE/ds for Elman layers; dE/ds itself for gated cells.

    Works through stacks (a list of per-layer states), so a deep Elman network
    gives every layer's δ side by side.
    """
    if isinstance(module, Recurrent):
        return dstate * module.f.derivative(state)  # δ_k = dE/ds_k ⊙ f'(net_k), f' from s_k = f(net_k)
    layers = getattr(module, "layers", None)
    if layers is not None and isinstance(state, list):
        return [_delta_from_state_grad(layer, s, ds) for layer, s, ds in zip(layers, state, dstate)]
    return dstate


def quantity_of(module):
    """What ``error_terms`` measures for this module, in words."""
    layers = getattr(module, "layers", [module])
    if all(isinstance(layer, Recurrent) for layer in layers):
        return "delta = dE/dnet_k"
    return "dE/ds_k (the whole state)"


def error_terms(module, x, v, s0=None, max_distance=None, budget=1 << 20):
    """Norms of the error term at every distance from the last step.

    module: a unidirectional layer or stack (forward(x, s0) / backward(dstates)
            -> (dx, ds0), with ``final_state``); put dropout in eval mode first.
    x:      (T, B, input) floats or (T, B) token ids.
    v:      (B, H_out) the error injected as dE/ds_{T-1} at the last step only.
    Returns ``norms`` (D, B) with norms[d, b] = ‖δ_{T-1-d}‖ of sequence b,
    d = 0 .. D-1, D = min(T, max_distance + 1).

    dE/ds_k is what the layer's backward returns as the gradient of the initial
    state when it is run from s_k over the steps k+1 .. T-1 with v injected at
    the last of them. Those runs, one per distance, are made side by side in
    the batch dimension (rows of a batch never mix): run j starts from its own
    s_k, reads x[k+1:] and then padding, and gets v at its own last real step.
    Steps after the injection receive no error, so the padding sends nothing
    back. ``budget`` bounds (steps x rows x state width) of one such call.
    """
    T = x.shape[0]
    D = T if max_distance is None else min(T, max_distance + 1)
    states = _step_states(module, x, s0)
    B, out_size = v.shape
    norms = numpy.empty((D, B))
    # d = 0: dE/ds_{T-1} is v on the output part of the state (zero on the rest).
    dlast = _last_state_grad(module, states[-1], v)
    norms[0] = _norms(_delta_from_state_grad(module, states[-1], dlast))
    width = sum(leaf.shape[1] for leaf in tree_leaves(states[-1]))
    d = 1
    while d < D:
        # Distances d .. d_end-1 in one call, padded to the longest (d_end - 1 steps).
        d_end = d + 1
        while d_end < D and d_end * B * (d_end - d + 1) * width <= budget:
            d_end += 1
        dists = range(d, d_end)
        L = d_end - 1
        rows = len(dists) * B
        xs = xp.zeros((L, rows) + x.shape[2:], dtype=x.dtype)
        for j, dist in enumerate(dists):
            xs[:dist, j * B:(j + 1) * B] = x[T - dist:]     # the steps k+1 .. T-1, k = T-1-dist
        start = _tree_concat([states[T - 1 - dist] for dist in dists])
        out = module.forward(xs, start)
        dstates = xp.zeros((L, rows, out_size), dtype=out.dtype)
        for j, dist in enumerate(dists):
            dstates[dist - 1, j * B:(j + 1) * B] = v         # dE/ds_{T-1}: the run's last real step
        _, ds_k = module.backward(dstates)                   # dE/ds_k, by the layer's own BPTT
        norms[d:d_end] = _norms(_delta_from_state_grad(module, start, ds_k)).reshape(len(dists), B)
        d = d_end
    return norms


def _tree_concat(states):
    """States of the same nesting, joined along the batch axis."""
    first = states[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_tree_concat([s[i] for s in states]) for i in range(len(first)))
    return xp.concatenate(states, axis=0)


def _last_state_grad(module, state, v):
    """dE/ds_{T-1} as a nested state: v on the part the output is read from, zeros elsewhere."""
    leaves = tree_leaves(state)
    grads = [xp.zeros_like(leaf) for leaf in leaves]
    # The output of an LSTM is h (the first of (h, c)); of a stack, its last layer's.
    target = _output_leaf_index(module, state)
    grads[target][...] = v
    it = iter(grads)

    def rebuild(node):
        if isinstance(node, (tuple, list)):
            return type(node)(rebuild(n) for n in node)
        return next(it)

    return rebuild(state)


def _output_leaf_index(module, state):
    layers = getattr(module, "layers", None)
    if layers is not None and isinstance(state, list):
        before = sum(len(tree_leaves(s)) for s in state[:-1])
        return before + _output_leaf_index(layers[-1], state[-1])
    return 0


def _norms(state):
    flat = _flat(state) if isinstance(state, (tuple, list)) else state.reshape(state.shape[0], -1)
    return numpy.sqrt(numpy.sum(numpy.asarray(flat, dtype=numpy.float64) ** 2, axis=1))


def ratio_summary(norms):
    """Per-distance statistics of ‖δ_k‖ / ‖δ_t‖, from norms (D, B).

    ``ratio`` is the batch's ratio: the root-mean-square of ‖δ_k‖ over the
    sequences divided by that of ‖δ_t‖, i.e. the error-term ratio of the batch
    as one gradient (what a batch of training sees). ``median``, ``p10`` and
    ``p90`` describe the spread of the per-sequence ratios ‖δ_k^b‖ / ‖δ_t^b‖;
    they can be exactly 0 (a ReLU unit switched off on every path).
    """
    norms = numpy.asarray(norms, dtype=numpy.float64)
    with numpy.errstate(all="ignore"):
        batch = numpy.sqrt((norms ** 2).mean(axis=1))
        ratio = batch / batch[0]
        per_seq = norms / norms[0:1]
    pct = numpy.percentile(per_seq, [10, 50, 90], axis=1)
    return dict(
        distance=list(range(norms.shape[0])),
        ratio=[float(r) for r in ratio],
        median=[float(r) for r in pct[1]],
        p10=[float(r) for r in pct[0]],
        p90=[float(r) for r in pct[2]],
    )


# Weight matrices per cell (the Elman layer's W, the GRU's three, the LSTM's four).
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def fresh_memory_estimate(cfg, steps, batch, hidden):
    """Bytes ``measure_fresh`` needs at most, about: the weights, their gradients and the
    backward passes' copies (~8 H² per gate), the states and inputs of every step (~8 T B H
    per gate) and the norms per distance (T x B), in float64. Generous (measured within
    0.6-1x for H 32-2048); it is there to refuse sizes no machine holds before building them."""
    h = cfg.get("hidden", hidden)
    gates = GATES.get(cfg.get("cell"), 4)
    return 8 * (gates * (8 * h * h + 8 * steps * batch * h) + steps * batch)


def measure_fresh(cfg, steps=100, batch=32, hidden=64, input_size=None, seed=0, max_distance=None):
    """‖δ_k‖ / ‖δ_t‖ of a freshly initialised layer on random inputs (float64).

    Inputs are x_t ~ N(0, 1) of ``input_size`` (default: ``hidden``), the
    initial state is zero, and v is a random Gaussian direction per sequence.
    Returns a dict: the configuration, what was measured, the per-distance
    summary (see ratio_summary) and ``norms`` (D, B) for further checks.
    """
    cfg = check_config(cfg)
    hidden = cfg.get("hidden", hidden)
    input_size = input_size or hidden
    rng = make_rng(seed)
    layer = make_layer(cfg, input_size, hidden, seed=rng, dtype=numpy.float64)
    x = rng.standard_normal((steps, batch, input_size))
    v = rng.standard_normal((batch, hidden))
    norms = error_terms(layer, x, v, max_distance=max_distance)
    return dict(config=cfg, source="fresh", quantity=quantity_of(layer), steps=steps, batch=batch,
                hidden=hidden, seed=seed, bound_per_step=bound_per_step(layer), **ratio_summary(norms),
                norms=norms, layer=layer, x=x, v=v)


# sup f'(net) of each activation: β_f in docs/article.md §6.
MAX_DERIVATIVE = {"tanh": 1.0, "sigmoid": 0.25, "relu": 1.0, "identity": 1.0}


def bound_per_step(layer):
    """β_W β_f of an Elman layer (largest singular value of W times sup f'), else None.

    From 式3, ‖δ_k‖ / ‖δ_t‖ ≤ (β_W β_f)^(t-k) for every sequence: the measured
    curve must lie under this line.
    """
    if not isinstance(layer, Recurrent):
        return None
    beta_w = float(numpy.linalg.norm(numpy.asarray(layer.params["W"], dtype=numpy.float64), 2))
    return beta_w * MAX_DERIVATIVE[layer.f.name]


def measure_lm(model, ids, warmup=50, max_distance=None):
    """‖δ_k‖ / ‖δ_t‖ inside a language model (rnnkit.lm.model.RNNLM) reading real text.

    ids: (L, B) token ids, B parallel pieces of text, L = warmup + T + 1. The
    first ``warmup`` tokens only bring the state to where reading text puts it
    (no gradient flows there); the error measured is the real one: dE/ds_t of
    the cross-entropy of predicting token T+1 from the last step's state,
    injected at the last step only, followed back through the recurrent stack
    (every layer's state, side by side). Put the model in float64 for the
    smallest ratios to stay representable.
    """
    model.eval()
    L = ids.shape[0]
    T = L - 1 - warmup
    if T < 2:
        raise ValueError(f"need at least warmup + 3 = {warmup + 3} tokens per sequence, got {L}")
    x = ids[:-1]
    if model.embedding is not None:
        x = model.embedding.forward(x)
    stack = model.rnn
    s0 = None
    if warmup:
        stack.forward(x[:warmup])
        s0 = _copy_state(stack.final_state)
    window = x[warmup:]
    h = stack.forward(window, s0)
    model.output.loss(h[-1], ids[-1])   # E: predicting the token after the window
    v = model.output.backward_loss()    # dE/ds_t at the last step, (B, H)
    norms = error_terms(stack, window, v, s0, max_distance=max_distance)
    return dict(source="model", quantity=quantity_of(stack), steps=T, batch=ids.shape[1], warmup=warmup,
                **ratio_summary(norms), norms=norms)


# --- clipping: the global gradient norm during a short training run --------------


def memory_task(rng, steps, batch, lag):
    """Inputs x_t ~ N(0, 1) (T, B, 1); the target at every step t ≥ lag is x_{t-lag}."""
    x = rng.standard_normal((steps, batch, 1))
    y = numpy.zeros_like(x)
    y[lag:] = x[:-lag]
    mask = numpy.zeros((steps, batch, 1))
    mask[lag:] = 1.0
    return x, y, mask


def clipping_run(cfg=None, clip=1.0, train_steps=300, lr=0.2, steps=40, batch=16, hidden=32, lag=10,
                 seed=0):
    """Train the same network twice, without and with clipping; per-step norm and loss.

    The network is one Elman layer plus a linear read-out V, trained by plain
    SGD to reproduce its input from ``lag`` steps back (squared error, averaged
    over the steps that have a target). Both runs start from the same weights
    and see the same batches; the only difference is ``clip_grad_norm``.
    Returns dict(runs={"no clipping": {...}, "clipping": {...}}) where each run
    has ``norm`` (global norm before clipping), ``applied`` (the norm of the
    step actually taken) and ``loss``, one value per training step (NaN once
    the run has diverged).
    """
    from rnnkit.nn.linear import Linear
    from rnnkit.nn.optim import clip_grad_norm

    cfg = check_config(cfg or dict(cell="rnn", activation="tanh", init="orthogonal", init_scale=2.0,
                                   label="tanh, W = 2·orthogonal"))
    runs = {}
    for name, threshold in (("no clipping", None), ("clipping", clip)):
        rng = make_rng(seed)
        layer = make_layer(cfg, 1, hidden, seed=rng, dtype=numpy.float64)
        readout = Linear(hidden, 1, seed=rng, dtype=numpy.float64)
        params = {**{f"rnn.{k}": p for k, p in layer.params.items()},
                  **{f"out.{k}": p for k, p in readout.params.items()}}
        grads = {**{f"rnn.{k}": g for k, g in layer.grads.items()},
                 **{f"out.{k}": g for k, g in readout.grads.items()}}
        data_rng = make_rng(seed + 1)
        norm_hist, applied_hist, loss_hist = [], [], []
        diverged = False
        for _ in range(train_steps):
            x, y, mask = memory_task(data_rng, steps, batch, lag)
            if diverged:
                norm_hist.append(math.nan)
                applied_hist.append(math.nan)
                loss_hist.append(math.nan)
                continue
            for g in grads.values():
                g.fill(0)
            with numpy.errstate(all="ignore"):
                hs = layer.forward(x)
                T, B, H = hs.shape
                pred = readout.forward(hs.reshape(T * B, H)).reshape(T, B, 1)
                count = mask.sum()
                err = (pred - y) * mask
                loss = float((err ** 2).sum() / count)
                dpred = 2.0 * err / count
                dh = readout.backward(dpred.reshape(T * B, 1)).reshape(T, B, H)
                layer.backward(dh)
                norm = clip_grad_norm(grads, threshold)
                applied = min(norm, threshold) if threshold else norm
                for k in params:
                    params[k] -= lr * grads[k]
            if not (math.isfinite(loss) and math.isfinite(norm)) or not all(
                    numpy.isfinite(p).all() for p in params.values()):
                diverged = True
                norm_hist.append(norm if math.isfinite(norm) else math.nan)
                applied_hist.append(math.nan)
                loss_hist.append(loss if math.isfinite(loss) else math.nan)
                continue
            norm_hist.append(norm)
            applied_hist.append(applied)
            loss_hist.append(loss)
        runs[name] = dict(clip=threshold, norm=norm_hist, applied=applied_hist, loss=loss_hist)
    return dict(config=cfg, clip=clip, lr=lr, train_steps=train_steps, steps=steps, batch=batch,
                hidden=hidden, lag=lag, seed=seed, runs=runs)
