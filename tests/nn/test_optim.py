import numpy
import pytest

from rnnkit.nn.optim import SGD, clip_grad_norm, clip_grad_value, global_norm, make_optimizer


def test_clipping():
    grads = {"a": numpy.array([3.0, 0.0]), "b": numpy.array([[4.0]])}
    assert clip_grad_norm(grads, 10.0) == 5.0 and grads["a"][0] == 3.0  # under the threshold: untouched
    norm = clip_grad_norm(grads, 1.0)
    assert norm == 5.0 and abs(global_norm(grads) - 1.0) < 1e-6
    direction = grads["a"][0] / grads["b"][0, 0]
    assert abs(direction - 0.75) < 1e-12, "clipping by norm keeps the direction"
    grads = {"a": numpy.array([-3.0, 0.5, 2.0])}
    clip_grad_value(grads, 1.0)
    assert numpy.array_equal(grads["a"], [-1.0, 0.5, 1.0])


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
def test_step_with_grad_scale_equals_clipping_first(name, rng):
    from rnnkit.nn.optim import clip_scale

    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    grads = {k: 3.0 * rng.standard_normal(v.shape) for k, v in params.items()}
    clipped = {k: v.copy() for k, v in params.items()}
    clipped_grads = {k: v.copy() for k, v in grads.items()}
    norm = clip_grad_norm(clipped_grads, 0.5)
    norm2, scale = clip_scale(grads, 0.5)
    assert norm2 == norm and 0 < scale < 1 and clip_scale(grads, 10 * norm) == (norm, 1.0)
    make_optimizer(name, clipped, clipped_grads, 0.1).step()
    make_optimizer(name, params, grads, 0.1).step(grad_scale=scale)
    for k in params:
        assert numpy.allclose(params[k], clipped[k], rtol=1e-13, atol=1e-15), k


def test_sgd_updates_large_arrays_in_pieces_like_one_update(rng, monkeypatch):
    from rnnkit.nn import optim

    monkeypatch.setattr(optim, "PIECE", 64)
    p = {"w": rng.standard_normal((30, 7)), "v": rng.standard_normal(5)}  # 210 elements: 4 pieces, the last short
    g = {k: rng.standard_normal(a.shape) for k, a in p.items()}
    expected = {k: p[k] - 0.3 * 0.5 * g[k] for k in p}
    SGD(p, g, lr=0.3).step(grad_scale=0.5)
    for k in p:
        assert numpy.allclose(p[k], expected[k], rtol=0, atol=1e-15), k


def test_optimizer_state_round_trip():
    p = {"w": numpy.ones(3)}
    g = {"w": numpy.full(3, 0.5)}
    opt = make_optimizer("adam", p, g, lr=0.1)
    opt.step()
    state = opt.state_dict()
    p2 = {"w": p["w"].copy()}
    opt2 = make_optimizer("adam", p2, {"w": g["w"]}, lr=0.1)
    opt2.load_state_dict(state)
    opt.step()
    opt2.step()
    assert numpy.array_equal(p["w"], p2["w"])
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("lbfgs", p, g, lr=1)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        SGD(p, g, lr=0)
