import numpy
import pytest

from rnnkit.nn import Bidirectional, Recurrent, RecurrentStack
from rnnkit.nn.checks import TOLERANCE, cases, run_case


def matrix():
    """The gradcheck matrix; its deepest bidirectional cases take most of the time: full suite only."""
    return [pytest.param(c, marks=pytest.mark.slow) if (c["direction"], c["depth"]) == ("bi", 3) else c
            for c in cases()]


@pytest.mark.parametrize("case", matrix(), ids=lambda c: "-".join(str(v) for v in c.values()))
def test_gradient_matrix(case):
    errors = run_case(case)
    assert max(errors.values()) < TOLERANCE, errors
    # every parameter, the input and the initial state(s) were checked
    assert "x" in errors and any(k.startswith("s0[") for k in errors) and any(k.startswith("out.") for k in errors)


def test_bidirectional_output_is_both_states(rng):
    bi = Bidirectional(Recurrent, 3, 4, seed=0, dtype=numpy.float64)
    x = rng.standard_normal((5, 2, 3))
    out = bi.forward(x)
    assert out.shape == (5, 2, 8)
    assert numpy.array_equal(out[..., :4], bi.fw.forward(x))
    assert numpy.array_equal(out[..., 4:], bi.bw.forward(x))
    assert bi.fw.params["U"] is not bi.bw.params["U"], "separate weights U and U'"


def test_deep_forms_differ_only_for_bidirectional_stacks():
    concat = RecurrentStack(3, 4, 2, bidirectional=True, form="concat")
    article = RecurrentStack(3, 4, 2, bidirectional=True, form="article")
    # concat: layer 2 reads [s; s'] (2H); article: each direction reads its own H
    assert concat.params["layers.1.fw.U"].shape == (4, 8)
    assert article.params["layers.1.fw.U"].shape == (4, 4)
    x = numpy.random.default_rng(0).standard_normal((5, 2, 3)).astype(numpy.float32)
    for p_a, p_c in zip(RecurrentStack(3, 4, 2, form="article", seed=1).params.values(),
                        RecurrentStack(3, 4, 2, form="concat", seed=1).params.values()):
        assert numpy.array_equal(p_a, p_c)


def test_article_form_keeps_directions_apart(rng):
    # In the article's form, the forward direction of layer 2 must not depend on
    # the backward direction of layer 1.
    stack = RecurrentStack(3, 4, 2, bidirectional=True, form="article", seed=0, dtype=numpy.float64)
    x = rng.standard_normal((5, 2, 3))
    base = stack.forward(x)
    stack.params["layers.0.bw.W"] += 0.5
    changed = stack.forward(x)
    assert numpy.array_equal(base[..., :4], changed[..., :4])
    assert not numpy.allclose(base[..., 4:], changed[..., 4:])


def test_stack_state_carry(rng):
    stack = RecurrentStack(3, 4, 3, bidirectional=False, seed=0, dtype=numpy.float64)
    x = rng.standard_normal((6, 2, 3))
    whole = stack.forward(x)
    a = stack.forward(x[:2])
    b = stack.forward(x[2:], stack.final_state)
    assert numpy.allclose(numpy.concatenate([a, b]), whole, atol=1e-14)
    with pytest.raises(ValueError, match="one state per layer"):
        stack.forward(x, [None])


def test_seed_makes_networks_reproducible():
    a = RecurrentStack(3, 4, 2, bidirectional=True, seed=7)
    b = RecurrentStack(3, 4, 2, bidirectional=True, seed=7)
    assert all(numpy.array_equal(a.params[k], b.params[k]) for k in a.params)
