"""Small corpora and a tiny model for the robustness tests (bad input, faults, limits)."""

import random

# Small and fast: a second or two per training run.
TINY = dict(hidden=16, embed=8, batch=4, bptt=6, epochs=3, optimizer="sgd", lr=1.0, seed=3)


def write_corpus(path, lines=200, seed=0):
    """A toy English text with some structure (determiner, adjective?, noun, verb ...)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(lines):
        words = [rnd.choice(["the", "a"]), rnd.choice(["big", "small", "red", ""]), rnd.choice(["cat", "dog"]),
                 rnd.choice(["sat", "ran"]), rnd.choice(["on", "under"]), "the", rnd.choice(["mat", "rug"])]
        out.append(" ".join(w for w in words if w))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def quiet(*_):
    pass
