"""Internal kernels: the speed machinery behind the output layers. Not public API.

The public layers (Linear, SoftmaxCrossEntropy, the language model's output
layers) keep plain forward/backward methods with the documented shapes; what
makes a language model's step fast lives here, where they call it:

- the softmax over the (N, vocabulary) logits in cache-sized row blocks, spread
  over the cores (rnnkit.parallel.parallel_map), with the output layer's bias
  added inside the blocks and the shift by the row maximum left out where e^x
  cannot overflow (SHIFT_FREE);
- the softmax's division by the row sum handed on as a factor per row
  (``row_scale``), which the output layer's products apply to their small
  (N, H) operand instead of the (N, vocabulary) gradient;
- ∇V cut into independent pieces that the caller can run on the other core
  beside BPTT (rnnkit.parallel.alongside).

Every function gives the same numbers as the textbook recipe it replaces (the
tests compare them); only the number of passes over memory differs.
"""

from functools import partial

from rnnkit.backend import xp
from rnnkit.parallel import num_threads, parallel_map, product_map, shares_products

ROWS_PER_BLOCK = 32  # 32 x 10,000 float32 = 1.3 MB: fits in L2 on current CPUs
# softmax(x) = softmax(x - a) for any a per row; a is there only so that e^x
# cannot overflow. A row whose maximum m lies in this range keeps a = 0: its
# sum is at most V e^60, finite in float32 for any vocabulary below 10^12,
# and an e^x that underflows (x < -87) belongs to a probability below
# e^(-87+20) ~ 1e-29. Other rows are shifted by m.
SHIFT_FREE = (-20.0, 60.0)
ROWS_PER_PIECE = 1024  # of ∇V, deferred or handed to a sink: 1,024 x N x in multiply-adds a piece
FEW_ROWS = 64  # a product with fewer rows than this is cut over the cores by times_transpose


def xent_rows(work, targets, bias=None, extra=None):
    """(NLL, sums) of every row of softmax(work + bias), (N,) float64 each.

    Computed in cache-sized blocks of ``work`` (N, V), which is left holding
    e^{x - a} (x = work + bias, a: the row's shift, see SHIFT_FREE), so that
    y = e^{x - a} / sums. ``bias`` (V,) is added inside the blocks: one pass
    over the (N, V) array fewer than adding it beforehand.

    ``extra``: (rows, targets), two (E,) int arrays: more (row, target) pairs,
    a row's distribution read for other targets than its own in the same
    pass (scoring sentences that share a prefix and then part). Their NLL,
    (E,) float64, is returned third: (NLL, sums, extra NLL).
    """
    N = work.shape[0]
    nll = xp.empty(N, dtype=xp.float64)
    sums = xp.empty(N, dtype=xp.float64)
    low, high = SHIFT_FREE
    if extra is not None:
        extra_rows, extra_targets = (xp.asarray(a) for a in extra)
        by_row = xp.argsort(extra_rows, kind="stable")
        extra_rows, extra_targets = extra_rows[by_row], extra_targets[by_row]
        extra_nll = xp.empty(extra_rows.size, dtype=xp.float64)

    def rows(span):
        for lo in range(span[0], span[1], ROWS_PER_BLOCK):
            block = work[lo:min(lo + ROWS_PER_BLOCK, span[1])]
            n = block.shape[0]
            if bias is not None:
                block += bias
            top = block.max(axis=1)
            shift = (top < low) | (top > high)
            if shift.any():
                block[shift] -= top[shift, None]  # now the row maximum is 0: e^x cannot overflow
            target_logit = block[xp.arange(n), targets[lo:lo + n]].astype(xp.float64)
            if extra is not None:
                e0, e1 = xp.searchsorted(extra_rows, [lo, lo + n])
                extra_logit = block[extra_rows[e0:e1] - lo, extra_targets[e0:e1]].astype(xp.float64)
            xp.exp(block, out=block)
            # A float32 row sum is pairwise (error ~ log2(V) ulp) and twice as fast as one in float64.
            z = block.sum(axis=1).astype(xp.float64)
            sums[lo:lo + n] = z
            nll[lo:lo + n] = xp.log(z) - target_logit  # -log y_target = log Σ_j e^{x_j - a} - (x_target - a)
            if extra is not None:
                extra_nll[e0:e1] = xp.log(z[extra_rows[e0:e1] - lo]) - extra_logit

    # NumPy runs each pass on one core; the blocks are shared out among threads.
    parallel_map(rows, spans(N, ROWS_PER_BLOCK))
    if extra is None:
        return nll, sums
    out = xp.empty_like(extra_nll)
    out[by_row] = extra_nll  # back to the order given
    return nll, sums, out


def xent_grad_rows(G, targets, sums):
    """Turn what xent_rows left in G (N, V) into (G, r) with dlogits = r[:, None] * G.

    G = e^{x - a} - sums ⊙ onehot(target) (in place) and r = 1 / (N sums), so
    that r ⊙ G = (y - onehot) / N, without a pass over the (N, V) array: a
    matrix product that follows applies r to its small operand instead
    (linear_backward's ``row_scale``).
    """
    N = G.shape[0]
    G[xp.arange(N), targets] -= sums.astype(G.dtype)
    return G, (1.0 / (N * sums)).astype(G.dtype)


def linear_backward(x2, d2, V, gV, gc=None, row_scale=None, defer_weight_grad=False, weight_sink=None):
    """Backward of o = x2 V^T + c for a gradient r[:, None] * d2 (r = row_scale, or ones).

    x2 (N, in), d2 (N, out), V and gV (out, in), gc (out,) or None.
    Returns (dx (N, in), pieces). ∇V and ∇c are accumulated into gV and gc.
    The factor r is applied to the (N, in) operand and result of each product
    instead of the (N, out) d2, which for a language model is the large one.

    ``defer_weight_grad``: ∇V, which nothing in the backward pass needs, is not
    computed but returned as independent pieces (callables, ROWS_PER_PIECE rows
    of V each) for the caller to run, for instance on the other core while BPTT
    runs (rnnkit.parallel.alongside); d2 must stay as it is until they have run.
    Otherwise pieces is empty.

    ``weight_sink(lo, hi, d, x)``: each piece's rows lo:hi of ∇V are handed to it
    as the factors of the product ∇V[lo:hi] = d^T x (d (N, hi - lo), x (N, in);
    neither is changed afterwards, and the sink must not change them) instead of
    being added into gV, which stays as it is. Dynamic evaluation
    (rnnkit.lm.adapt) makes the product and steps those rows of V at once, never
    storing ∇V; a data-parallel worker (rnnkit.scale.replica) sends the factors
    when they are smaller than the rows. With a sink, the pieces are not deferred
    but run here, each beside its rows' share of dx (``_through_sink``), and the
    sink may change its rows of V: nothing reads them afterwards.
    """
    out_features = V.shape[0]
    r = xp.ones(d2.shape[0], dtype=d2.dtype) if row_scale is None else row_scale
    xs = x2 if row_scale is None else x2 * r[:, None]
    if gc is not None:
        # ∇c = Σ_t δo_t as a matrix-vector product: BLAS reads the (N, out) array
        # once on every core, where sum(axis=0) makes a slower single-core pass.
        gc += r @ d2  # ∇c = Σ_t δo_t
    if weight_sink is not None:
        dx = _through_sink(d2, V, xs, weight_sink)
        if row_scale is not None:
            dx *= r[:, None]
        return dx, []

    def weight_grad(lo, hi):
        # ∇V = Σ_t δo_t s_t^T with δo_t = r_t d2_t
        gV[lo:hi] += d2[:, lo:hi].T @ xs

    if defer_weight_grad:
        pieces = [partial(weight_grad, lo, hi) for lo, hi in blocks(out_features, ROWS_PER_PIECE)]
    else:
        weight_grad(0, out_features)
        pieces = []
    dx = d2 @ V  # ∂E/∂s_t = V^T δo_t
    if row_scale is not None:
        dx *= r[:, None]
    return dx, pieces


def _through_sink(d2, V, xs, weight_sink):
    """dx = d2 V (N, in), with ∇V's pieces handed to the sink on the way.

    Block by block of V's rows: the block's share of dx is made first, then the block
    goes to the sink, which may change it (dynamic evaluation steps it). So each block
    of V is read while it is still in cache from the other product, instead of both
    products and the sink's step each making a pass over the whole of V, which for a
    segment of 20 tokens is more than the arithmetic. The blocks are shared among the
    threads inside rnnkit.parallel.shared_products (product_map); their shares of dx are
    added in block order, the same sum however many threads ran them.
    """
    def block(span):
        lo, hi = span
        share = d2[:, lo:hi] @ V[lo:hi]  # before the sink may change these rows
        weight_sink(lo, hi, d2[:, lo:hi], xs)
        return share

    shares = product_map(block, blocks(V.shape[0], ROWS_PER_PIECE))
    dx = shares[0]
    for share in shares[1:]:
        dx += share
    return dx


def times_transpose(x2, V):
    """x2 V^T: (N, out) for x2 (N, in) and V (out, in), the output layer's product.

    A product of few rows (dynamic evaluation's 20-token segment) gains nothing from BLAS's
    own threads; inside rnnkit.parallel.shared_products it is cut into blocks of V's rows that
    rnnkit's threads share instead (product_map), each block's columns of the result written
    in place. Otherwise, and for many rows, it is BLAS's.
    """
    if x2.shape[0] >= FEW_ROWS or V.shape[0] < 2 * ROWS_PER_PIECE or not shares_products():
        return x2 @ V.T
    out = xp.empty((x2.shape[0], V.shape[0]), dtype=xp.result_type(x2, V))

    def block(span):
        lo, hi = span
        xp.matmul(x2, V[lo:hi].T, out=out[:, lo:hi])

    product_map(block, blocks(V.shape[0], V.shape[0] // num_threads() + 1))
    return out


def blocks(n, block):
    """[lo, hi) ranges of ``block`` rows (the last shorter) covering 0..n."""
    return [(lo, min(lo + block, n)) for lo in range(0, n, block)]


def spans(n, block):
    """[lo, hi) row ranges for parallel_map: one block each, handed to whichever thread is free
    (parallel_map runs them in this thread when there is one); one range for everything below
    four blocks, where threads cost more than they save."""
    if n < 4 * block:
        return [(0, n)]
    return blocks(n, block)
