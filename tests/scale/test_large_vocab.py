"""The class softmax at a large vocabulary: a window's gradient of V and c lives in the rows of the classes its
targets fall in, and zeroing, clipping and SGD touch those rows only, with the same result as a dense update."""

import numpy as np

from rnnkit.lm.model import RNNLM
from rnnkit.lm.train.trainer import train_step
from rnnkit.nn.class_softmax import frequency_classes
from rnnkit.nn.optim import make_optimizer


def test_class_softmax_gradient_rows_and_the_same_step_as_dense():
    V = 3000
    counts = (1e6 / np.arange(1, V + 1)).astype(np.int64)
    word_class = frequency_classes(counts, 55)
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, (4, 3)).astype(np.int32)
    y = rng.integers(0, V, (4, 3)).astype(np.int32)
    sparse, dense = (RNNLM(V, embed=8, hidden=8, softmax="class", word_class=word_class, seed=3) for _ in range(2))
    sparse.loss(x, y)
    sparse.backward()
    rows = sparse.grad_rows()
    classes = np.unique(word_class[y.ravel()])
    expected = int(np.isin(word_class, classes).sum())
    assert rows["output.V"].size == expected < V and np.array_equal(rows["output.V"], rows["output.c"])
    g = sparse.grads["output.V"]
    outside = np.setdiff1d(np.arange(V), rows["output.V"])
    assert not g[outside].any() and g[rows["output.V"]].any()
    sparse.zero_grad()
    assert not sparse.grads["output.V"].any() and not sparse.grads["output.c"].any()
    # one SGD step with clipping: rows skipped (sparse) or every row updated (dense) give the same weights
    for model, use_rows in ((sparse, True), (dense, False)):
        opt = make_optimizer("sgd", model.params, model.grads, 0.5)
        if use_rows:
            train_step(model, opt, x, y, clip=0.01)
        else:
            model.zero_grad()
            model.loss(x, y)
            model.backward()
            from rnnkit.nn.optim import clip_scale

            opt.step(grad_scale=clip_scale(model.grads, 0.01)[1])
    for k in sparse.params:
        np.testing.assert_allclose(sparse.params[k], dense.params[k], rtol=1e-6, atol=1e-7)
