"""The one text layout of `rnnkit predict` and `rnnkit ngram predict`.

    the big ____
    (3-gram model: only the last 2 tokens count)      a note, when there is one
    (unknown to the model, read as <unk>: zebra)       when the prefix has such tokens
      1    0.4213  cat
      2    0.3977  dog

Rank, probability, token: the same columns whichever model predicts, so
that the two can be read (and diffed) side by side.
"""


def print_predictions(shown, predictions, unknown=(), note=None, as_unk=True):
    """``shown``: the prefix as the model read it; ``predictions``: (token, probability) pairs, best first.

    ``unknown``: the prefix's tokens outside the vocabulary, read as <unk>
    unless ``as_unk`` is false (an N-gram model with a closed vocabulary).
    """
    print(f"{shown} ____" if shown else "____")
    if note:
        print(f"({note})")
    if unknown:
        print(f"(unknown to the model{', read as <unk>' if as_unk else ''}: {' '.join(unknown)})")
    for rank, (token, p) in enumerate(predictions, 1):
        print(f"{rank:3d}  {p:8.4f}  {token}")
