"""Input lookup: token ids to vectors, the product E^T one_hot(id) done as a row read.

docs/article.md §7: "U times a one-hot vector is one column of U". Building the one-hot
vectors (vocabulary-sized) would waste memory and time, so the lookup reads
the row directly; tests show the two agree.
"""

from rnnkit.backend import as_dtype, rng as make_rng, xp
from rnnkit.nn.module import Module, check_array


class Embedding(Module):
    """Parameter E (num_embeddings x dim).

    forward(ids (T, B) integers) -> (T, B, dim)
    backward(dout (T, B, dim)) -> None (ids have no gradient); accumulates grads["E"].
    """

    def __init__(self, num_embeddings, dim, seed=None, dtype=None, scale=0.1):
        super().__init__()
        dtype = as_dtype(dtype)
        self.num_embeddings, self.dim = num_embeddings, dim
        self.add_param("E", make_rng(seed).uniform(-scale, scale, size=(num_embeddings, dim)).astype(dtype))
        self.sparse_rows("E")  # a window reads a few rows: zeroing, clipping and SGD skip the others
        self._ids = None

    def forward(self, ids):
        check_array("ids", ids, 2)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"ids: expected integer token ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(f"ids: token ids must lie in [0, {self.num_embeddings}), got {ids.min()}..{ids.max()}")
        self._ids = ids
        return self.params["E"][ids]

    def backward(self, dout):
        ids = self._ids
        check_array("dout", dout, 3, (*ids.shape, self.dim))
        scatter_add_rows(self.grads["E"], ids.reshape(-1), dout.reshape(-1, self.dim))
        self.touched("E", ids.reshape(-1))
        return None


def scatter_add_rows(target, rows, values):
    """target[rows[i]] += values[i], summing repeated rows (a word seen twice).

    The rows are sorted, each run of one row summed by one ``add.reduceat``, and
    the sums added to the distinct rows at once: half the time of ``add.at``,
    which goes element by element (1.3 against 2.7 ms for a 700 x 200 window).
    """
    if rows.size == 0:
        return
    order = xp.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = xp.flatnonzero(xp.concatenate(([True], sorted_rows[1:] != sorted_rows[:-1])))
    target[sorted_rows[starts]] += xp.add.reduceat(values[order], starts, axis=0)
