"""The one place that picks the array module and the floating-point type.

Layers never import numpy for their math; they take ``xp`` from here, so that a
GPU array module (CuPy) can be dropped in without touching them. Training and
inference run in float32; gradient checks ask for float64 explicitly. How work
shares the cores is rnnkit.parallel's job, not this module's.
"""

import numpy

xp = numpy
DEFAULT_DTYPE = numpy.float32


def as_dtype(dtype):
    """The dtype to use: ``dtype`` if given, else the default (float32)."""
    return xp.dtype(DEFAULT_DTYPE if dtype is None else dtype)


def rng(seed=None):
    """A NumPy Generator; an existing Generator is passed through unchanged."""
    if isinstance(seed, numpy.random.Generator):
        return seed
    return numpy.random.default_rng(seed)
