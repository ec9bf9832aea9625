"""Each defect of the article's reference code (docs/article.md §8) must make our checks fail.

The article's RecurrentLayer passed its own gradient check while being wrong.
Here each of its defects is re-created as a mutant of our Elman layer, and we
show two things: the article's weak check (two steps from s_0 = 0, identity
activation, only W, one sequence) is blind to it, and our check (T >= 3,
non-zero s_0, every activation, every array, a batch) is not.
"""

import numpy
import pytest

from rnnkit.nn import Recurrent, reference
from rnnkit.nn.gradcheck import check_gradients, relative_error
from rnnkit.nn.optim import SGD

DETECTED = 1e-3  # a real bug gives errors of order 1; correct code gives ~1e-9


class ArticleMutant(Recurrent):
    """Our layer with one of the article's bugs put back into backward()."""

    def __init__(self, *args, bug, **kwargs):
        super().__init__(*args, **kwargs)
        self.bug = bug

    def backward(self, dstates):
        x, s0, states = self._cache
        U, W = self.params["U"], self.params["W"]
        T, B, H = states.shape
        states = states.copy()
        prev = numpy.concatenate([s0[None], states[:-1]])
        delta = numpy.empty_like(states)
        ds = numpy.zeros((B, H))
        for t in range(T - 1, -1, -1):
            if self.bug == "raw-state-diag":
                # calc_delta_k: diag[s] instead of diag[f'(net)]
                delta[t] = dstates[t] * self.f.derivative(states[t]) if t == T - 1 else dstates[t] * self.f.derivative(states[t]) + ds * states[t]
            elif self.bug == "wrong-time-step":
                # calc_delta_k: f' taken from step t+1 instead of step t
                nxt = states[t + 1] if t + 1 < T else states[t]
                delta[t] = (dstates[t] + ds) * self.f.derivative(nxt)
            elif self.bug == "overwrites-states":
                # calc_delta_k writes f'(net) over the stored states, and the
                # weight gradient is then computed from the overwritten array
                delta[t] = (dstates[t] + ds) * self.f.derivative(states[t])
                if t > 0:
                    states[t - 1] = self.f.derivative(states[t - 1])
                    prev[t] = states[t - 1]
            else:
                delta[t] = (dstates[t] + ds) * self.f.derivative(states[t])
            ds = delta[t] @ W
        flat = delta.reshape(T * B, H)
        self.grads["W"] += flat.T @ prev.reshape(T * B, H)
        if self.bug != "no-U-gradient":  # update() changed W only
            self.grads["U"] += flat.T @ x.reshape(T * B, -1)
        if self.bug != "no-bias":
            self.grads["b"] += flat.sum(axis=0)
        return (flat @ U).reshape(x.shape), ds


def _sum_last_state_loss(layer, x, s0):
    def loss_and_grads():
        layer.zero_grad()
        states = layer.forward(x, s0)
        d = numpy.zeros_like(states)
        d[-1] = 1.0  # E = sum of the last state's elements, as in the article
        dx, ds0 = layer.backward(d)
        return states[-1].sum(), {**layer.grads, "x": dx, "s0": ds0}
    return loss_and_grads


def article_check(bug):
    """The article's gradient_check: T=2, s_0 = 0, identity activation, W only, B=1."""
    rng = numpy.random.default_rng(0)
    layer = ArticleMutant(3, 2, activation="identity", dtype=numpy.float64, seed=0, bug=bug)
    layer.params["W"][...] = rng.uniform(-0.5, 0.5, (2, 2))
    x = rng.uniform(-1, 1, (2, 1, 3))
    s0 = numpy.zeros((1, 2))
    return max(check_gradients(_sum_last_state_loss(layer, x, s0), {"W": layer.params["W"]}).values())


def mutant_and_inputs(bug, activation):
    """A mutant with random weights, x (T=4, B=3, 3), a non-zero s_0 and a generator for more draws."""
    rng = numpy.random.default_rng(0)
    layer = ArticleMutant(3, 4, activation=activation, dtype=numpy.float64, seed=0, bug=bug)
    for p in layer.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return layer, rng.standard_normal((4, 3, 3)), rng.uniform(0.1, 0.9, (3, 4)), rng


def our_check(bug, activation="tanh"):
    """rnnkit's check: T=4, B=3, random non-zero s_0, every array, a non-trivial loss."""
    layer, x, s0, rng = mutant_and_inputs(bug, activation)
    weights = rng.standard_normal((4, 3, 4))

    def loss_and_grads():
        layer.zero_grad()
        states = layer.forward(x, s0)
        dx, ds0 = layer.backward(weights)
        return float((weights * states).sum()), {**layer.grads, "x": dx, "s0": ds0}

    arrays = {**layer.params, "x": x, "s0": s0}
    return max(check_gradients(loss_and_grads, arrays).values())


def reference_difference(bug, activation="tanh"):
    """The largest relative difference between a mutant's gradients and nn/reference.py's, same inputs."""
    layer, x, s0, rng = mutant_and_inputs(bug, activation)
    dstates = rng.standard_normal((4, 3, 4))
    states = layer.forward(x, s0)
    dx, ds0 = layer.backward(dstates)
    f, f_prime = reference.ACTIVATIONS[activation]
    xc, s0c = reference.columns(x), reference.columns(s0)
    net, s = reference.elman_forward(layer.params, xc, s0c, f)
    grads, dx_ref, ds0_ref = reference.elman_backward(layer.params, xc, s0c, net, s, reference.columns(dstates), f_prime)
    pairs = [(states, reference.rows(s)), (dx, reference.rows(dx_ref)), (ds0, reference.rows(ds0_ref))]
    pairs += [(layer.grads[k], grads[k]) for k in ("U", "W", "b")]
    return max(relative_error(a, r) for a, r in pairs)


def test_correct_layer_passes_both_checks():
    assert article_check(bug=None) < 1e-8
    for activation in ("tanh", "sigmoid", "relu", "identity"):
        assert our_check(bug=None, activation=activation) < 1e-7


@pytest.mark.parametrize("bug", ["raw-state-diag", "wrong-time-step", "no-U-gradient", "no-bias"])
def test_article_check_is_blind_to_its_own_bptt_bugs(bug):
    # Two steps from s_0 = 0: δ_1 meets only s_0 = 0 in ∇W, so a wrong δ_1 is invisible.
    assert article_check(bug) < 1e-8


@pytest.mark.parametrize("bug", ["raw-state-diag", "wrong-time-step", "overwrites-states", "no-U-gradient", "no-bias"])
def test_our_check_catches_each_article_bug(bug):
    assert our_check(bug) > DETECTED


def test_wrong_time_step_is_invisible_with_identity_but_not_with_tanh():
    # With the identity activation f' = 1 at every step, so taking it from the
    # wrong step changes nothing: this is why every activation is checked.
    assert our_check("wrong-time-step", activation="identity") < 1e-7
    assert our_check("wrong-time-step", activation="tanh") > DETECTED


def test_sgd_step_updates_U_W_and_b():
    # The article's update() changed W only; ours moves every parameter.
    rng = numpy.random.default_rng(0)
    layer = Recurrent(3, 4, seed=0)
    before = {k: v.copy() for k, v in layer.params.items()}
    states = layer.forward(rng.standard_normal((4, 2, 3)).astype(numpy.float32))
    layer.backward(numpy.ones_like(states))
    SGD(layer.params, layer.grads, lr=0.1).step()
    for name in ("U", "W", "b"):
        assert not numpy.allclose(before[name], layer.params[name]), name


def test_correct_layer_equals_the_reference():
    for activation in ("tanh", "sigmoid", "relu", "identity"):
        assert reference_difference(bug=None, activation=activation) < 1e-12


@pytest.mark.parametrize("bug", ["raw-state-diag", "wrong-time-step", "overwrites-states", "no-U-gradient", "no-bias"])
def test_reference_comparison_catches_each_article_bug(bug):
    # The oracle of tests/nn/test_reference.py, given the same mutants: each one
    # moves some output or gradient far beyond the 1e-12 the fast layers keep.
    assert reference_difference(bug) > DETECTED
