import numpy
import pytest

from rnnkit.nn import init_weights


def test_initialisers():
    r = numpy.random.default_rng(0)
    U, W = init_weights("uniform", r, 20, 10, numpy.float64)
    assert numpy.abs(U).max() <= 1e-4 and numpy.abs(W).max() <= 1e-4
    U, W = init_weights("orthogonal", r, 20, 10, numpy.float64)
    assert numpy.allclose(W.T @ W, numpy.eye(20), atol=1e-12)
    U, W = init_weights("identity", r, 20, 10, numpy.float64, scale=0.5)
    assert numpy.array_equal(W, 0.5 * numpy.eye(20)) and numpy.abs(U).max() < 0.01
    U, W = init_weights("xavier", r, 20, 10, numpy.float64)
    assert numpy.abs(U).max() <= (6 / 30) ** 0.5 and numpy.abs(W).max() <= (6 / 40) ** 0.5
    with pytest.raises(ValueError, match="unknown init"):
        init_weights("zeros", r, 2, 2, numpy.float64)
