"""The numbers behind `rnnkit gradflow`: docs/article.md §6 and 式3, measured on the engine's layers.

The command itself: tests/commands/test_cli_gradflow.py.
"""

import numpy
import pytest

from rnnkit import gradflow
from rnnkit.nn import Recurrent, RecurrentStack

FPRIME_MAX = {"tanh": 1.0, "sigmoid": 0.25, "relu": 1.0, "identity": 1.0}


# --- docs/article.md §6: vanishing and exploding ---------------------------------------------


def test_tanh_with_small_weights_vanishes_below_1e_minus_3_at_distance_20():
    r = gradflow.measure_fresh(dict(activation="tanh", init="orthogonal", init_scale=0.5),
                               steps=25, batch=8, hidden=16, seed=1)
    assert r["bound_per_step"] == pytest.approx(0.5)  # β_W β_f: ‖W‖₂ = 0.5, sup tanh' = 1
    assert r["ratio"][0] == 1.0
    assert r["ratio"][20] < 1e-3
    # 式3's inequality holds for every sequence: ‖δ_k‖ ≤ ‖δ_t‖ (β_W β_f)^(t-k).
    per_seq = r["norms"] / r["norms"][0]
    bound = 0.5 ** numpy.arange(per_seq.shape[0])[:, None]
    assert numpy.all(per_seq <= bound * (1 + 1e-9))


def test_sigmoid_vanishes_even_with_xavier_weights():
    r = gradflow.measure_fresh(dict(activation="sigmoid"), steps=25, batch=8, hidden=16, seed=2)
    assert r["ratio"][20] < 1e-3


def test_identity_activation_with_large_w_explodes_above_1e3_at_distance_20():
    r = gradflow.measure_fresh(dict(activation="identity", init="orthogonal", init_scale=1.5),
                               steps=25, batch=8, hidden=16, seed=3)
    assert r["ratio"][20] > 1e3
    # W = 1.5 Q with Q orthogonal and f' = 1: every step multiplies ‖δ‖ by exactly 1.5.
    d = numpy.arange(25)
    assert numpy.allclose(r["ratio"], 1.5 ** d, rtol=1e-9)


def test_relu_with_identity_init_keeps_the_gradient_alive():
    r = gradflow.measure_fresh(dict(activation="relu", init="identity"), steps=25, batch=8, hidden=16, seed=4)
    assert 0.3 < r["ratio"][20] <= 1.0 + 1e-9


def test_lstm_with_open_forget_gate_keeps_the_gradient_alive_where_tanh_does_not():
    lstm = gradflow.measure_fresh(dict(cell="lstm", forget_bias=3.0), steps=25, batch=8, hidden=16, seed=5)
    tanh = gradflow.measure_fresh(dict(activation="tanh", init="orthogonal"), steps=25, batch=8, hidden=16, seed=5)
    assert lstm["quantity"].startswith("dE/ds")
    assert lstm["ratio"][20] > 1e-2
    assert lstm["ratio"][20] > 100 * tanh["ratio"][20]


# --- 式3 computed directly ---------------------------------------------------------


def jacobian_product_norms(layer, x, s0, v):
    """‖δ_k‖ for every k from δ_t and the product of W diag[f'(net_i)] (式3), written out."""
    states = layer.forward(x, s0)
    W = layer.params["W"]
    fprime = layer.f.derivative(states)  # f'(net_i) from s_i = f(net_i), (T, B, H)
    T, B, H = states.shape
    norms = numpy.empty((T, B))
    for b in range(B):
        delta_t = v[b] * fprime[T - 1, b]  # δ_t = dE/ds_t ⊙ f'(net_t)
        product = numpy.eye(H)
        norms[0, b] = numpy.linalg.norm(delta_t)
        for k in range(T - 2, -1, -1):
            product = product @ (W @ numpy.diag(fprime[k, b]))  # ∏_{i=k}^{t-1} W diag[f'(net_i)]
            norms[T - 1 - k, b] = numpy.linalg.norm(delta_t @ product)  # δ_k^T = δ_t^T ∏ …
    return norms


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "identity"])
def test_measured_ratios_equal_the_product_of_jacobians(activation):
    rng = numpy.random.default_rng(7)
    layer = Recurrent(5, 6, activation=activation, init="orthogonal", init_scale=1.1, seed=rng,
                      dtype=numpy.float64)
    layer.params["b"][:] = rng.normal(0, 0.3, 6)  # a bias, so that ReLU units differ
    x = rng.standard_normal((9, 3, 5))
    s0 = rng.standard_normal((3, 6)) * 0.5  # a non-zero initial state
    v = rng.standard_normal((3, 6))
    measured = gradflow.error_terms(layer, x, v, s0)
    direct = jacobian_product_norms(layer, x, s0, v)
    assert measured.shape == (9, 3)
    assert numpy.allclose(measured, direct, rtol=1e-10, atol=1e-300)
    summary = gradflow.ratio_summary(measured)
    rms = numpy.sqrt((direct ** 2).mean(axis=1))
    assert numpy.allclose(summary["ratio"], rms / rms[0], rtol=1e-10)


def test_side_by_side_runs_equal_one_run_per_distance():
    # error_terms packs the runs of many distances into one batch; packing must not change a number.
    rng = numpy.random.default_rng(8)
    layer = gradflow.make_layer(dict(cell="gru"), 4, 5, seed=rng)
    x = rng.standard_normal((12, 2, 4))
    v = rng.standard_normal((2, 5))
    one_by_one = gradflow.error_terms(layer, x, v, budget=1)
    packed = gradflow.error_terms(layer, x, v, budget=1 << 30)
    assert numpy.allclose(one_by_one, packed, rtol=1e-12)
    assert gradflow.error_terms(layer, x, v, max_distance=4).shape == (5, 2)


def finite_difference_state_grad(module, x_suffix, state, v, eps=1e-6):
    """dE/ds_k by central differences, E = <v, output at the last step> from state s_k."""
    leaves, rebuild = _leaves(state)
    grads = []
    for leaf in leaves:
        g = numpy.zeros_like(leaf)
        for idx in numpy.ndindex(leaf.shape):
            old = leaf[idx]
            leaf[idx] = old + eps
            up = float(numpy.sum(module.forward(x_suffix, rebuild())[-1] * v))
            leaf[idx] = old - eps
            down = float(numpy.sum(module.forward(x_suffix, rebuild())[-1] * v))
            leaf[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads.append(g)
    it = iter(grads)
    return _map(state, lambda _: next(it))


def _leaves(state):
    from rnnkit.nn import tree_leaves

    leaves = tree_leaves(state)
    return leaves, lambda: state


def _map(state, fn):
    if isinstance(state, (tuple, list)):
        return type(state)(_map(s, fn) for s in state)
    return fn(state)


@pytest.mark.parametrize("make", [
    lambda rng: gradflow.make_layer(dict(cell="lstm"), 3, 4, seed=rng),
    lambda rng: gradflow.make_layer(dict(cell="gru"), 3, 4, seed=rng),
    lambda rng: RecurrentStack(3, 4, num_layers=2, cell="rnn", seed=rng, dtype=numpy.float64),
    lambda rng: RecurrentStack(3, 4, num_layers=2, cell="lstm", seed=rng, dtype=numpy.float64),
], ids=["lstm", "gru", "rnn-stack", "lstm-stack"])
def test_error_terms_of_gated_cells_and_stacks_match_finite_differences(make):
    rng = numpy.random.default_rng(9)
    module = make(rng)
    x = rng.standard_normal((7, 2, 3))
    v = rng.standard_normal((2, 4))
    measured = gradflow.error_terms(module, x, v)
    states = gradflow._step_states(module, x, None)
    for d in (1, 3, 6):
        k = 7 - 1 - d
        dstate = finite_difference_state_grad(module, x[k + 1:], gradflow._copy_state(states[k]), v)
        expected = gradflow._norms(gradflow._delta_from_state_grad(module, states[k], dstate))
        assert numpy.allclose(measured[d], expected, rtol=1e-6), d


# --- configurations ------------------------------------------------------------------


def test_parse_config_and_its_errors():
    cfg = gradflow.parse_config("cell=rnn, activation=relu, init=identity, scale=1, label=IRNN")
    assert cfg == dict(cell="rnn", activation="relu", init="identity", init_scale=1.0, label="IRNN")
    assert gradflow.parse_config("cell=lstm,forget_bias=2")["forget_bias"] == 2.0
    for bad, words in [("cell=transformer", "unknown cell"), ("activation=swish", "unknown activation"),
                       ("init=he", "unknown init"), ("colour=red", "unknown key"), ("scale=big", "number"),
                       ("cell=lstm,activation=relu", "rnn cell only"), ("cell=rnn,forget_bias=1", "lstm"),
                       ("tanh", "key=value")]:
        with pytest.raises(ValueError, match=words):
            gradflow.parse_config(bad)


def test_every_preset_is_a_valid_configuration():
    for preset in gradflow.PRESETS:
        cfg = gradflow.check_config(preset)
        assert cfg["label"] and cfg["group"] in ("Elman", "gated")


# --- clipping ---------------------------------------------------------------------------


def test_clipping_caps_the_step_and_keeps_training_finite():
    r = gradflow.clipping_run(clip=1.0, lr=0.2, train_steps=25, seed=0)
    no, yes = r["runs"]["no clipping"], r["runs"]["clipping"]
    assert no["norm"][0] == yes["norm"][0] > 10  # same start: a large first gradient
    assert max(v for v in no["norm"] if numpy.isfinite(v)) > 1e3  # unclipped, it explodes
    assert all(numpy.isfinite(yes["loss"])) and all(numpy.isfinite(yes["norm"]))
    assert max(yes["applied"]) <= 1.0 + 1e-9  # every step taken is capped
    assert yes["loss"][-1] < yes["loss"][0]
