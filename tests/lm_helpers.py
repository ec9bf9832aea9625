"""Helpers shared by the language-model and command tests (imported by conftest.py and the tests)."""

import json
import random

WORDS = "the a cat dog sat ran on under mat rug big small red blue quickly slowly".split()


def make_corpus(path, lines=200, seed=0):
    """A toy English text with some structure (determiner, adjective?, noun, verb ...)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(lines):
        det = rnd.choice(["the", "a"])
        noun = rnd.choice(["cat", "dog"])
        adj = rnd.choice(["big", "small", "red", "blue", ""])
        verb = rnd.choice(["sat", "ran"])
        prep = rnd.choice(["on", "under"])
        obj = rnd.choice(["mat", "rug"])
        out.append(" ".join(w for w in [det, adj, noun, verb, prep, "the", obj] if w))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


ZH_LINES = [
    "我昨天上学迟到了，老师批评了我。",
    "他昨天上学迟到了，老师批评了他。",
    "她今天来得很早，老师表扬了她。",
    "我的手机坏了，我打算买一部新手机。",
    "我每天骑自行车去上学。",
]

# Small and fast: a few seconds for every training run in these tests.
TINY = dict(hidden=16, embed=8, batch=4, bptt=6, epochs=3, optimizer="sgd", lr=1.0, seed=3)


def cli(capsys, *argv):
    """(exit code, stdout, stderr) of `rnnkit ARGV...` run through rnnkit.cli.main, as a user runs it."""
    from rnnkit.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def quiet_train(corpus, out, options, **kw):
    """rnnkit.lm.train.train on the ``corpus`` fixture's (train, valid) into ``out``, printing nothing."""
    from rnnkit.lm.train import train

    return train(str(corpus[0]), str(corpus[1]), str(out), options, quiet=True, log=lambda *_: None, **kw)


def read_metrics(out):
    """MODEL_DIR ``out``'s metrics.jsonl rows."""
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
