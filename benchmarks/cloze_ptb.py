"""Filling each token from both sides vs predicting it from the left: the same tokens, two models.

    python benchmarks/cloze_ptb.py --lm LM_DIR --cloze CLOZE_DIR --test ptb.test.txt [--json]

LM_DIR is a left-to-right model (rnnkit train), CLOZE_DIR a cloze model
(rnnkit train --task cloze), trained on the same corpus. Both are measured on
the words of the test file, every word once, <eos> never counted as a
target:

- left to right: log p(w_t | everything before it), the stream read from the
  start state with the state carried across lines (what `rnnkit eval` does);
  the same run also gives the usual perplexity with <eos> counted;
- cloze: log p(w_t | every other token of its line), as `rnnkit eval` on a
  cloze model reports it. The cloze model sees only its own line; the LM also
  sees all earlier lines.

For both: perplexity, and top-1 / top-5 accuracy (the word is the most likely
token, or among the five most likely). Prints one JSON object.
"""

import argparse
import json
import math
import time

import numpy

from rnnkit.lm.api import LanguageModel
from rnnkit.lm.cloze import ClozeLM, cloze_stats
from rnnkit.lm.data import encode_file, with_start

WINDOW = 128


def left_to_right(lm, ids):
    """Per target of the stream: log p, and whether it is in the top 1 / top 5; plus which targets are <eos>."""
    model, eos = lm.model, lm.vocab.eos_id
    model.eval()
    stream = with_start(ids, eos)
    logps, ranks = [], []
    state = None
    for start in range(0, stream.size - 1, WINDOW):
        y = stream[start + 1 : start + 1 + WINDOW]
        x = stream[start : start + y.size]
        logp = model.log_probs(x[:, None], state)[:, 0]  # (T, V) exact, class softmax included
        state = model.final_state
        target = logp[numpy.arange(y.size), y]
        logps.append(target.astype(numpy.float64))
        ranks.append((logp > target[:, None]).sum(-1))
    return numpy.concatenate(logps), numpy.concatenate(ranks), ids == eos


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", required=True)
    ap.add_argument("--cloze", required=True)
    ap.add_argument("--test", required=True)
    args = ap.parse_args()

    lm, cz = LanguageModel.load(args.lm), ClozeLM.load(args.cloze)
    if lm.vocab.tokens != cz.vocab.tokens:
        raise SystemExit("the two models have different vocabularies: train them on the same corpus")
    enc = encode_file(args.test, lm.tokenizer, lm.vocab)

    t0 = time.perf_counter()
    logp, rank, is_eos = left_to_right(lm, enc.ids)
    t_lm = time.perf_counter() - t0
    words = ~is_eos
    t0 = time.perf_counter()
    st = cloze_stats(cz.model, enc.ids, cz.vocab.eos_id)
    t_cz = time.perf_counter() - t0
    assert st["tokens"] == int(words.sum()), (st["tokens"], int(words.sum()))

    n = int(words.sum())
    out = {
        "test": args.test,
        "words": n,
        "eos": int(is_eos.sum()),
        "left_to_right": {
            "model": args.lm,
            "config": lm.config["model"],
            "ppl_words": math.exp(-logp[words].sum() / n),
            "ppl_with_eos": math.exp(-logp.sum() / logp.size),
            "top1_words": float((rank[words] < 1).mean()),
            "top5_words": float((rank[words] < 5).mean()),
            "seconds": t_lm,
        },
        "cloze": {
            "model": args.cloze,
            "config": cz.config["model"],
            "ppl_words": math.exp(st["nll"] / n),
            "top1_words": st["top1"] / n,
            "top5_words": st["top5"] / n,
            "seconds": t_cz,
        },
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
