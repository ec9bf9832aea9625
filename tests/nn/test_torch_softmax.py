"""The class softmax with a head against PyTorch's adaptive softmax (nn.AdaptiveLogSoftmaxWithLoss).

With ``div_value=1`` every cluster of torch's layer keeps the full hidden size,
behind a projection that is set to the identity here; its clusters have no
bias, so the classes' word biases c are zero. Then the two layers are the same
function, and rnnkit's log-probabilities, loss and gradients (h, V, c of the
head, Vc, bc) must equal torch's, in float64.
"""

import numpy
import pytest

from rnnkit.nn.class_softmax import ClassSoftmax, frequency_classes

torch = pytest.importorskip("torch", reason="PyTorch is the oracle for these checks (pip install torch==2.13.0)")

TOL = 1e-10


@pytest.mark.parametrize("classes", [1, 3])
def test_head_matches_torch_adaptive_softmax(classes):
    vocab, hidden, head, N = 30, 6, 8, 40
    rng = numpy.random.default_rng(classes)
    counts = numpy.sort(rng.integers(1, 1000, vocab))[::-1]
    layer = ClassSoftmax(hidden, vocab, frequency_classes(counts, classes, head=head), seed=0,
                         dtype=numpy.float64, head=head)
    for name, p in layer.params.items():
        p[...] = rng.uniform(-1, 1, p.shape)
    layer.params["c"][head:] = 0.0  # torch's clusters have no bias
    cutoffs = [int(k) for k in layer.start[head:-1]]  # each class after the head is a block of ids
    assert len(cutoffs) == classes

    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(hidden, vocab, cutoffs, div_value=1.0, head_bias=True,
                                              dtype=torch.float64)
    V = layer.params["V"]
    with torch.no_grad():
        ref.head.weight.copy_(torch.from_numpy(numpy.concatenate([V[:head], layer.params["Vc"]])))
        ref.head.bias.copy_(torch.from_numpy(numpy.concatenate([layer.params["c"][:head], layer.params["bc"]])))
        for i, (lo, hi) in enumerate(zip(cutoffs, cutoffs[1:] + [vocab])):
            ref.tail[i][0].weight.copy_(torch.eye(hidden, dtype=torch.float64))
            ref.tail[i][1].weight.copy_(torch.from_numpy(V[lo:hi]))

    h = rng.standard_normal((N, hidden))
    targets = rng.integers(0, vocab, N)
    targets[:3] = [0, head, vocab - 1]  # the head, the first class, the last class
    h_t = torch.from_numpy(h.copy()).requires_grad_(True)
    out = ref(h_t, torch.from_numpy(targets))
    out.loss.backward()

    assert numpy.allclose(layer.log_probs(h), ref.log_prob(h_t).detach().numpy(), atol=TOL, rtol=0)
    assert numpy.allclose(layer.token_log_probs(h, targets), out.output.detach().numpy(), atol=TOL, rtol=0)
    layer.zero_grad()
    assert abs(layer.loss(h, targets) - out.loss.item()) < TOL
    dh = layer.backward_loss()
    assert numpy.allclose(dh, h_t.grad.numpy(), atol=TOL, rtol=0)
    g_head = ref.head.weight.grad.numpy()
    assert numpy.allclose(layer.grads["V"][:head], g_head[:head], atol=TOL, rtol=0)
    assert numpy.allclose(layer.grads["Vc"], g_head[head:], atol=TOL, rtol=0)
    g_bias = ref.head.bias.grad.numpy()
    assert numpy.allclose(layer.grads["c"][:head], g_bias[:head], atol=TOL, rtol=0)
    assert numpy.allclose(layer.grads["bc"], g_bias[head:], atol=TOL, rtol=0)
    for i, (lo, hi) in enumerate(zip(cutoffs, cutoffs[1:] + [vocab])):
        assert numpy.allclose(layer.grads["V"][lo:hi], ref.tail[i][1].weight.grad.numpy(), atol=TOL, rtol=0)
