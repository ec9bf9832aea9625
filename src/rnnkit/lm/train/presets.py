"""Recipes by name (`rnnkit train --preset NAME`): option defaults that the options given override.

Each recipe is the command line of a documented run (docs/results.md), so a
user gets its result without copying flags. The options given win over the
recipe's, and the recipe's over rnnkit's own defaults (resolve_options).
"""

PRESETS = {
    # Zaremba, Sutskever and Vinyals (2014), small and non-regularised: LSTM 2x200, BPTT 20, lr 1 on the
    # summed loss (20 on our mean), clip 5 (0.25), rate halved from epoch 4 on, 13 epochs.
    # docs/results.md: PTB test 113.72 (the paper: 114.5).
    "zaremba-small": dict(cell="lstm", layers=2, hidden=200, dropout=0.0, softmax="full", lr=20.0, clip=0.25,
                          bptt=20, anneal_from=4, epochs=13),
    # Their medium model: LSTM 2x650, dropout 0.5, BPTT 35, the rate divided by 1.2 from epoch 6, 39 epochs.
    # docs/results.md: PTB test 82.52 after 20 epochs (the paper: 82.7).
    "zaremba-medium": dict(cell="lstm", layers=2, hidden=650, dropout=0.5, softmax="full", lr=20.0, clip=0.25,
                           bptt=35, anneal_from=6, anneal=1.2, min_improvement=1.0, epochs=39),
    # The best measured in 20 minutes of a quiet two-core machine (Intel Xeon, AVX-512): GRU 1x350, dropout
    # 0.4, tied weights, full softmax, the rate halved from epoch 5 at the latest: PTB test 101.92 with
    # --max-minutes 20, which stopped it in epoch 9. A 1x300 converged in 8 epochs and 16.1 minutes at
    # 104.19; a 1x400 (dropout 0.5) reached only epoch 7, at 109.18. On a slower core (an AVX2 EPYC) the
    # 1x200 recipe fits instead: --hidden 200 --dropout 0.3 --anneal-from 3 --epochs 8, test
    # 107.36-107.99 in 8 epochs; there this 1x350 got 5 epochs into the 20 minutes, test 123.14
    # (docs/results.md, "The presets' figures"). So under --max-minutes the preset measures which
    # of these fits (FITS, below).
    "ptb-20min": dict(cell="gru", hidden=350, dropout=0.4, tie_weights=True, softmax="full", lr=20.0, clip=0.25,
                      bptt=20, anneal_from=5, epochs=10),
}


# Recipes that a preset chooses among by the speed measured on the machine, when it runs under
# --max-minutes and none of the options they set was typed: (epochs it needs, the recipe),
# widest first. The first whose epochs fit the minutes is kept, else the last (Trainer._fit).
# Which width fits 20 minutes is the core's: an AVX2 EPYC ran the 1x350 at 4,696 tokens/s
# (5 epochs, test 123.14), an AVX-512 Xeon at 7,046 (8 epochs, 101.92). Another AVX-512 Xeon
# ran it at 3,300-5,100 and kept the 1x200 (test 107.50 in 16.1 minutes).
FITS = {
    "ptb-20min": [
        (8, dict(hidden=350, dropout=0.4, anneal_from=5, epochs=10)),  # 101.92, its 8th epoch best (second machine)
        (8, dict(hidden=300, dropout=0.4, anneal_from=5, epochs=10)),  # 104.19, converged in 8 (second machine)
        (8, dict(hidden=200, dropout=0.3, anneal_from=3, epochs=8)),   # 107.36-107.99 in 8 (first machine)
    ],
}


def fit_choices(given, max_minutes):
    """FITS' recipes for the preset ``given`` names, or None: none to choose among, no budget
    to fit, or an option they set typed (then the recipe with what was typed is kept as it is)."""
    recipes = FITS.get(given.get("preset"))
    if recipes is None or max_minutes is None:
        return None
    chosen_here = {"embed"}.union(*(recipe for _, recipe in recipes))
    if any(given.get(key) is not None for key in chosen_here):
        return None
    return recipes


def with_preset(given):
    """``given`` (option -> value, None: not given) over the named preset's values, if any."""
    name = given.get("preset")
    if name is None or name not in PRESETS:
        return given  # an unknown name is the option table's error to give
    return {**PRESETS[name], **{k: v for k, v in given.items() if v is not None}}
