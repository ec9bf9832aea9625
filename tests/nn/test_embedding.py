import numpy

from rnnkit.nn import Embedding, Linear, SoftmaxCrossEntropy
from rnnkit.nn.gradcheck import check_gradients


def test_linear_and_embedding_gradients(rng):
    emb = Embedding(6, 3, dtype=numpy.float64, seed=0)
    lin = Linear(3, 5, dtype=numpy.float64, seed=0)
    lin.params["c"][...] = rng.standard_normal(5)
    ids = rng.integers(0, 6, (4, 2))
    ids[0, 0] = ids[1, 1]  # a repeated id must sum its gradients
    targets = rng.integers(0, 5, 8)
    ce = SoftmaxCrossEntropy()

    def loss_and_grads():
        emb.zero_grad()
        lin.zero_grad()
        loss = ce.forward(lin.forward(emb.forward(ids)).reshape(8, 5), targets)
        emb.backward(lin.backward(ce.backward().reshape(4, 2, 5)))
        return loss, {"E": emb.grads["E"], "V": lin.grads["V"], "c": lin.grads["c"]}

    errors = check_gradients(loss_and_grads, {"E": emb.params["E"], "V": lin.params["V"], "c": lin.params["c"]})
    assert max(errors.values()) < 1e-8, errors


def test_scatter_add_rows_sums_repeated_rows(rng):
    from rnnkit.nn.embedding import scatter_add_rows

    rows = numpy.array([5, 0, 5, 3, 5, 0, 9])  # unsorted, repeated
    values = rng.standard_normal((7, 4))
    target = rng.standard_normal((10, 4))
    expected = target.copy()
    for r, v in zip(rows, values):
        expected[r] += v
    scatter_add_rows(target, rows, values)
    assert numpy.allclose(target, expected, atol=1e-14)
    columns = rng.standard_normal((4, 10))  # a transposed view, as for U's columns of the one-hot path
    expected = columns.copy()
    for r, v in zip(rows, values):
        expected[:, r] += v
    scatter_add_rows(columns.T, rows, values)
    assert numpy.allclose(columns, expected, atol=1e-14)
    before = target.copy()
    scatter_add_rows(target, rows[:0], values[:0])  # an empty window changes nothing
    assert numpy.array_equal(target, before)
