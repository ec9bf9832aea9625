import numpy
import pytest

from rnnkit.nn import Dropout


def test_dropout_scales_and_masks(rng):
    d = Dropout(0.5, seed=0)
    x = numpy.ones((1000, 10), numpy.float32)
    y = d.forward(x)
    assert set(numpy.unique(y)) <= {0.0, 2.0} and abs(y.mean() - 1.0) < 0.05
    assert numpy.array_equal(d.backward(numpy.ones_like(x)), y)
    d.eval()
    assert d.forward(x) is x
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\)"):
        Dropout(1.0)
