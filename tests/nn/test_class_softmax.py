import numpy
import pytest

from rnnkit.nn.class_softmax import ClassSoftmax, frequency_classes
from rnnkit.nn.gradcheck import check_gradients
from softmax_helpers import weight_grad_through_sink


# Without a head, and with the 4 most frequent of the 12 words scored directly (the adaptive softmax):
# every test below runs on both.
HEADS = pytest.mark.parametrize("head", [0, 4])


def _layer(rng, vocab=12, hidden=5, head=0):
    counts = -numpy.sort(-rng.integers(1, 100, vocab))  # ids by falling count, as a Vocab numbers them
    layer = ClassSoftmax(hidden, vocab, frequency_classes(counts, 4 - head // 2, head=head), seed=0,
                         dtype=numpy.float64, head=head)
    for p in layer.params.values():
        p[...] = rng.uniform(-1, 1, p.shape)
    return layer


def test_frequency_classes_bin_by_mass():
    counts = numpy.array([1000, 500, 10, 10, 10, 10, 5, 5, 1, 1])
    cls = frequency_classes(counts, 3, power=1.0)
    assert cls[0] == 0 and cls.max() == 2
    assert (numpy.diff(cls[numpy.argsort(-counts, kind="stable")]) >= 0).all(), "classes follow frequency order"
    assert len(numpy.unique(frequency_classes(counts, 50))) <= 10


@HEADS
def test_probabilities_are_exactly_normalised(rng, head):
    layer = _layer(rng, head=head)
    h = rng.standard_normal((7, 5))
    logp = layer.log_probs(h)
    assert numpy.allclose(numpy.exp(logp).sum(axis=1), 1.0, atol=1e-12)
    targets = rng.integers(0, 12, 7)
    assert numpy.allclose(layer.token_log_probs(h, targets), logp[numpy.arange(7), targets])
    assert abs(layer.loss(h, targets) + logp[numpy.arange(7), targets].mean()) < 1e-12


@HEADS
def test_gradients(rng, head):
    layer = _layer(rng, head=head)
    h = rng.standard_normal((9, 5))
    targets = rng.integers(0, 12, 9)

    def loss_and_grads():
        layer.zero_grad()
        loss = layer.loss(h, targets)
        dh = layer.backward_loss()
        return loss, {**layer.grads, "h": dh}

    errors = check_gradients(loss_and_grads, {**layer.params, "h": h})
    assert max(errors.values()) < 1e-8, errors


@HEADS
def test_deferred_weight_gradient_pieces_give_the_same_gradients(rng, head):
    layer = _layer(rng, head=head)
    h, targets = rng.standard_normal((9, 5)), rng.integers(0, 12, 9)
    layer.loss(h, targets)
    dh = layer.backward_loss()
    expected = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grad()
    layer.loss(h, targets)
    dh_deferred, pieces = layer._backward_loss(defer_weight_grad=True)
    assert numpy.array_equal(dh_deferred, dh)
    assert not layer.grads["V"].any() and pieces
    for piece in pieces:
        piece()
    for name, g in expected.items():
        assert numpy.allclose(layer.grads[name], g, atol=1e-14), name
    # a sink receives each class's rows of ∇V instead of grads["V"], and V's rows are not marked written
    _, received = weight_grad_through_sink(layer, h, targets)
    assert not layer.grads["V"].any() and layer.grad_rows()["V"].size == 0
    assert numpy.allclose(received, expected["V"], atol=1e-14)
    assert numpy.allclose(layer.grads["c"], expected["c"], atol=1e-14)


def test_bad_input(rng):
    layer = _layer(rng)
    with pytest.raises(ValueError, match=r"h: expected shape \(\?, 5\)"):
        layer.loss(numpy.zeros((3, 4)), numpy.zeros(3, int))
    with pytest.raises(ValueError, match="word_class"):
        ClassSoftmax(5, 12, numpy.zeros(11, int))


@HEADS
def test_extra_targets_of_some_rows(rng, head):
    layer = _layer(rng, head=head)
    h, targets = rng.standard_normal((9, 5)), rng.integers(0, 12, 9)
    rows, more = numpy.array([8, 0, 0, 4]), numpy.array([3, 11, 0, 4])
    own, extra = layer.token_log_probs(h, targets, extra=(rows, more))
    logp = layer.log_probs(h)
    assert numpy.allclose(own, logp[numpy.arange(9), targets]) and numpy.allclose(extra, logp[rows, more])
    with pytest.raises(ValueError, match="extra rows"):
        layer.token_log_probs(h, targets, extra=(numpy.array([9]), numpy.array([0])))


def test_a_head_is_classes_of_one_word_each_before_the_binned_rest():
    counts = numpy.array([1000, 500, 100, 10, 10, 10, 10, 5, 5, 1, 1])
    cls = frequency_classes(counts, 2, power=1.0, head=3)
    assert list(cls[:3]) == [0, 1, 2] and set(cls[3:]) == {3, 4}
    assert list(cls[3:]) == list(3 + frequency_classes(counts[3:], 2, power=1.0))
    with pytest.raises(ValueError, match="head"):
        frequency_classes(counts, 2, head=11)  # no word left for the classes


def test_head_words_are_scored_by_their_rows_of_v(rng):
    """A head word's probability is the first softmax's, over [V[:head] h + c[:head]; Vc h + bc]:
    its own row of V (the embedding's, when tied), not a class's."""
    layer = _layer(rng, head=4)
    V, c, Vc, bc = (layer.params[k] for k in ("V", "c", "Vc", "bc"))
    h = rng.standard_normal((3, 5))
    first = numpy.concatenate([h @ V[:4].T + c[:4], h @ Vc.T + bc], axis=1)
    first = first - numpy.log(numpy.exp(first).sum(axis=1, keepdims=True))
    assert numpy.allclose(layer.log_probs(h)[:, :4], first[:, :4], atol=1e-12)
    assert layer.params["Vc"].shape == (layer.num_classes - 4, 5)
    layer.loss(h, numpy.array([0, 3, 2]))  # head words only: no class's softmax runs
    layer.backward_loss()
    assert (layer.grad_rows()["V"] == numpy.arange(4)).all()


def test_bad_head(rng):
    counts = numpy.arange(12, 0, -1)
    with pytest.raises(ValueError, match="first 4 ids"):
        ClassSoftmax(5, 12, frequency_classes(counts, 3), head=4)  # classes binned without the head
    with pytest.raises(ValueError, match="first 12 ids"):
        ClassSoftmax(5, 12, numpy.arange(12), head=12)
