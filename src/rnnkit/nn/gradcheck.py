"""One numerical gradient check for every layer and every network.

Central differences in float64: for each element w of each array,

    dE/dw ≈ (E(w + ε) - E(w - ε)) / 2ε,

compared with the analytic gradient that backward() produced. The article's
own check (docs/article.md §8) looked only at W, for two steps from s_0 = 0 with the
identity activation, and so could not see its bugs; this one is given every
parameter, the inputs and the initial state, and is run with T >= 3, a batch,
a non-zero s_0 and every activation.

The error of one array is max_i |a_i - n_i| / max(max_i |a_i|, max_i |n_i|):
the largest disagreement relative to the size of that gradient. An element-
wise ratio would blow up on elements whose true gradient is tiny (a vanishing
gradient is tiny by design) and whose difference is floating-point noise.
"""

from rnnkit.backend import xp


def numerical_gradient(loss, array, eps=1e-5):
    """Central-difference gradient of ``loss()`` w.r.t. ``array``, perturbed in place."""
    grad = xp.zeros(array.shape, dtype=xp.float64)
    flat = array.reshape(-1)  # a view: writing it perturbs the array the network reads
    if not xp.shares_memory(flat, array):
        raise ValueError("numerical_gradient needs a contiguous array to perturb in place")
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = loss()
        flat[i] = original - eps
        minus = loss()
        flat[i] = original
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic, numeric):
    scale = max(float(xp.abs(analytic).max(initial=0.0)), float(xp.abs(numeric).max(initial=0.0)))
    if scale == 0.0:
        return 0.0
    return float(xp.abs(analytic - numeric).max()) / scale


def check_gradients(loss_and_grads, arrays, eps=1e-5):
    """Compare analytic and numerical gradients for every array in ``arrays``.

    loss_and_grads() runs forward and backward at the arrays' current values
    and returns (loss, {name: analytic gradient}) for the names in ``arrays``
    (a dict name -> float64 array that the computation reads, e.g. a layer's
    params plus the input x and the initial state). Returns {name: relative error}.
    """
    for name, a in arrays.items():
        if a.dtype != xp.float64:
            raise ValueError(f"gradient checks need float64 arrays; {name} is {a.dtype}")
    _, analytic = loss_and_grads()
    analytic = {name: xp.array(analytic[name], dtype=xp.float64) for name in arrays}

    def loss():
        return loss_and_grads()[0]

    return {name: relative_error(analytic[name], numerical_gradient(loss, a, eps)) for name, a in arrays.items()}
