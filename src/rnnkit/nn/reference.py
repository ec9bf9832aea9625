"""The article's network in one file, written the way the article writes it.

This is the oracle, not the engine: the fast layers (Recurrent, Bidirectional,
RecurrentStack, Linear, SoftmaxCrossEntropy) must give the same numbers to
1e-12 in float64 (tests/nn/test_reference.py). It is plain NumPy, loops over
time, keeps everything, and makes no attempt at speed.

Vectors are columns, as in the article: at step t the batch's B inputs stand
side by side as the columns of x_t (m, B), so "U x_t" is ``U @ x_t`` and the
weight gradient "δ_t x_t^T" is ``delta[t] @ x[t].T`` (the product sums over the
batch). The public functions take and return the engine's time-major rows,
(T, B, features), and turn them into columns at the door.

    式1   o_t  = g(V s_t)                          output layer; g = softmax, + c
    式2   s_t  = f(U x_t + W s_{t-1})              Elman layer, + b
    §3    s'_t = f(U' x_t + W' s'_{t+1}),  o_t = g(V s_t + V' s'_t)
    §4    s_t^(i) = f(U^(i) s_t^(i-1) + W^(i) s_{t-1}^(i))
    式3   δ_k^T = δ_t^T ∏_{i=k}^{t-1} W diag[f'(net_i)]     back through time
    式4   (δ_t^{l-1})^T = (δ_t^l)^T U diag[f'^{l-1}(net_t^{l-1})]   down a layer
          ∇U = Σ_t δ_t x_t^T,  ∇W = Σ_t δ_t s_{t-1}^T,  ∇b = Σ_t δ_t
          ∇V = Σ_t δo_t s_t^T, ∇c = Σ_t δo_t,  δo_t = (y_t - label_t) / N

A network is a dict:

    {"activation": "tanh",                 f of 式2: a name in ACTIVATIONS
     "form": "concat" or "article",        §4: what layer i reads of layer i-1
     "layers": [layer, ...],               layer = {"U", "W", "b"}, or a pair
                                           (forward, backward) of them (§3)
     "V": [V] or [V, V'], "c": c}          the output layer (式1)

The deep forms, as in nn/stack.py: with "article" each direction of layer i
reads the same direction of layer i-1 (the article's §4); with "concat" both
directions read [s^(i-1); s'^(i-1)] (PyTorch's form). Read top to bottom:
forward, loss, backward. See docs/article.md for the equations in words.
"""

from rnnkit.backend import xp as np  # NumPy, through the one array module every nn/ file uses


def sigmoid(net):
    return 1.0 / (1.0 + np.exp(-net))


# f and f' of 式2. f' is taken of net, as in diag[f'(net)]; the fast layers
# compute it from s = f(net) instead, so the two ways check each other.
ACTIVATIONS = {
    "tanh": (np.tanh, lambda net: 1.0 - np.tanh(net) ** 2),
    "sigmoid": (sigmoid, lambda net: sigmoid(net) * (1.0 - sigmoid(net))),
    "relu": (lambda net: np.maximum(net, 0.0), lambda net: (net > 0).astype(net.dtype)),
    "identity": (lambda net: net, lambda net: np.ones_like(net)),
}


def columns(a):
    """(T, B, k) rows -> (T, k, B) columns; (B, k) -> (k, B)."""
    return np.swapaxes(a, -1, -2)


rows = columns  # and back


def steps(T, reverse):
    """The order a layer visits time: t = 0..T-1, or T-1..0 for the backward layer of §3."""
    return range(T - 1, -1, -1) if reverse else range(T)


# --- one Elman layer: 式2 forward, BPTT backward -----------------------------


def elman_forward(layer, x, s0, f, reverse=False):
    """x: (T, m, B), s0: (n, B) -> net, s: (T, n, B) each."""
    U, W, b = layer["U"], layer["W"], layer["b"][:, None]
    net = np.zeros((len(x), len(W), x.shape[2]))
    s = np.zeros_like(net)
    s_prev = s0
    for t in steps(len(x), reverse):
        net[t] = U @ x[t] + W @ s_prev + b  # 式2: net_t = U x_t + W s_{t-1} + b
        s[t] = f(net[t])                    # 式2: s_t = f(net_t)
        s_prev = s[t]
    return net, s


def elman_backward(layer, x, s0, net, s, ds, f_prime, reverse=False):
    """BPTT. ds: (T, n, B), ∂E/∂s_t from above (the output layer, or the next layer up).

    Returns the gradients {"U", "W", "b"}, dx = ∂E/∂x_t (T, m, B) and ∂E/∂s_0 (n, B).
    """
    U, W = layer["U"], layer["W"]
    order = list(steps(len(x), reverse))
    delta = np.zeros_like(net)
    from_later = np.zeros_like(s0)  # W^T δ_{t+1}: what step t+1 sends back through W
    for t in reversed(order):
        delta[t] = f_prime(net[t]) * (ds[t] + from_later)  # 式3, one step: δ_t = diag[f'(net_t)] (W^T δ_{t+1} + ∂E/∂s_t)
        from_later = W.T @ delta[t]                         # 式3: the W of δ_{t+1}^T W diag[f'(net_t)]
    s_before = {t: (s[order[k - 1]] if k else s0) for k, t in enumerate(order)}  # s_{t-1} (s'_{t+1} reversed)
    grads = {
        "U": sum(delta[t] @ x[t].T for t in order),          # ∇U = Σ_t δ_t x_t^T
        "W": sum(delta[t] @ s_before[t].T for t in order),   # ∇W = Σ_t δ_t s_{t-1}^T
        "b": sum(delta[t].sum(axis=1) for t in order),       # ∇b = Σ_t δ_t
    }
    dx = np.stack([U.T @ delta[t] for t in range(len(x))])  # 式4: δ^{l-1} = diag[f'^{l-1}] U^T δ^l; the layer below applies its f'
    return grads, dx, from_later                            # ∂E/∂s_0 = W^T δ_1


# --- the output layer: 式1 with softmax, and cross-entropy (§7) -------------


def softmax(o):
    """o: (..., classes, B), one column per prediction."""
    e = np.exp(o - o.max(axis=-2, keepdims=True))  # §7 softmax: y_i = e^{o_i} / Σ_k e^{o_k}; the max shift cancels
    return e / e.sum(axis=-2, keepdims=True)


def cross_entropy(y, targets):
    """y: (T, classes, B) probabilities, targets: (T, B) ids -> L = -(1/N) Σ_n log y_n[target_n]."""
    T, _, B = y.shape
    picked = y[np.arange(T)[:, None], targets, np.arange(B)[None, :]]  # (T, B): y_t[label_t] of every column
    return -np.log(picked).sum() / (T * B)  # §7 cross-entropy: L = -(1/N) Σ_n log y_n[label_n]


# --- the network: §3 and §4 around 式2, 式1 on top ---------------------------


def _inputs(network, i, h):
    """What the forward and backward layers of layer i read; h is layer i-1's output (T, k, B)."""
    if i > 0 and network["form"] == "article":
        half = h.shape[1] // 2
        return h[:, :half], h[:, half:]  # §4, the article's form: s^(i) reads s^(i-1), s'^(i) reads s'^(i-1)
    return h, h                          # layer 1, or the concat form: both read all of it


def forward(network, x, s0):
    """x: (T, B, m) rows, s0: one state per layer ((B, n), or a (forward, backward) pair).

    Returns (top, o, cache): the top layer's states (T, B, n or 2n), the logits
    o_t before g (T, B, classes), and what backward needs.
    """
    f, _ = ACTIVATIONS[network["activation"]]
    h = columns(x)
    cache = []  # per layer: one (layer, its input, s_0, net, s, reverse) per direction
    for i, layer in enumerate(network["layers"]):
        if isinstance(layer, tuple):  # §3: two layers, one each way in time, with weights of their own
            (x_fw, x_bw), (s0_fw, s0_bw) = _inputs(network, i, h), map(columns, s0[i])
            net_fw, s_fw = elman_forward(layer[0], x_fw, s0_fw, f)                # §3: s_t  = f(U x_t + W s_{t-1})
            net_bw, s_bw = elman_forward(layer[1], x_bw, s0_bw, f, reverse=True)  # §3: s'_t = f(U' x_t + W' s'_{t+1})
            cache.append([(layer[0], x_fw, s0_fw, net_fw, s_fw, False), (layer[1], x_bw, s0_bw, net_bw, s_bw, True)])
            h = np.concatenate([s_fw, s_bw], axis=1)  # §3: [s_t; s'_t], what the layer above and V, V' read
        else:
            net_i, s_i = elman_forward(layer, h, columns(s0[i]), f)  # §4: s_t^(i) = f(U^(i) s_t^(i-1) + W^(i) s_{t-1}^(i))
            cache.append([(layer, h, columns(s0[i]), net_i, s_i, False)])
            h = s_i
    tops = [part[4] for part in cache[-1]]  # s_t, or s_t and s'_t
    o = sum(V @ s for V, s in zip(network["V"], tops)) + network["c"][:, None]  # 式1 before g: o_t = V s_t + V' s'_t + c
    return rows(h), rows(o), (cache, tops, o)


def loss(network, x, s0, targets):
    """Cross-entropy of softmax(o) (式1, §7) against targets (T, B) ids: one number."""
    _, o, _ = forward(network, x, s0)
    return cross_entropy(softmax(columns(o)), targets)


def loss_and_gradients(network, x, s0, targets):
    """(L, grads): grads mirrors the network ({"layers", "V", "c"}) and adds "x" and "s0"."""
    _, f_prime = ACTIVATIONS[network["activation"]]
    _, _, (cache, tops, o) = forward(network, x, s0)
    y = softmax(o)  # 式1: y_t = g(o_t), g = softmax
    L = cross_entropy(y, targets)
    T, _, B = y.shape
    label = np.zeros_like(y)
    label[np.arange(T)[:, None], targets, np.arange(B)[None, :]] = 1.0
    d_o = (y - label) / (T * B)  # §7: δo_t = ∂L/∂o_t = (y_t - label_t) / N, softmax and cross-entropy together
    grads = {
        "V": [sum(d_o[t] @ s[t].T for t in range(T)) for s in tops],  # ∇V = Σ_t δo_t s_t^T (and ∇V' with s'_t)
        "c": d_o.sum(axis=(0, 2)),                                     # ∇c = Σ_t δo_t
        "layers": [None] * len(cache),
        "s0": [None] * len(cache),
    }
    ds = [np.stack([V.T @ d_o[t] for t in range(T)]) for V in network["V"]]  # ∂L/∂s_t = V^T δo_t (and V'^T δo_t)
    for i in range(len(cache) - 1, -1, -1):
        results = [elman_backward(layer, x_in, s0_in, net_i, s_i, ds_part, f_prime, reverse)
                   for (layer, x_in, s0_in, net_i, s_i, reverse), ds_part in zip(cache[i], ds)]
        each = tuple if len(results) == 2 else (lambda parts: parts[0])
        grads["layers"][i] = each([g for g, _, _ in results])
        grads["s0"][i] = each([rows(ds0) for _, _, ds0 in results])
        dxs = [dx for _, dx, _ in results]
        if len(dxs) == 2 and not (i > 0 and network["form"] == "article"):
            dh = dxs[0] + dxs[1]              # both directions read the same input
        else:
            dh = np.concatenate(dxs, axis=1)  # each direction hands down to its own half
        if i > 0 and len(cache[i - 1]) == 2:
            ds = np.split(dh, 2, axis=1)      # ∂L/∂[s^(i-1); s'^(i-1)] to each direction of layer i-1
        else:
            ds = [dh]
    grads["x"] = rows(dh)
    return L, grads
