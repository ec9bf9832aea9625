"""What adapting at test time costs: tokens/s of static evaluation, the neural cache, dynamic
evaluation (RMS and SGD forms) and both, on the same text and model, in one process.

    python benchmarks/adapt_cost.py                                   # a fresh GRU 1x200, 10k words, tied
    python benchmarks/adapt_cost.py --model gru1x200 --text ptb.test.txt --rounds 5

Each mode computes what `rnnkit eval MODEL TEXT [--cache N] [--dynamic ...]` computes
(rnnkit.lm.evaluate.evaluate, rnnkit.lm.adapt.evaluate_adaptive), with the settings' defaults.
The modes take turns, round after round, each round starting one mode later, so that a slow
spell of a shared machine falls on all of them; the best round of each is kept (the least
disturbed) and compared with static evaluation's best: ``cost`` is its seconds over static's,
the figure the issue bounds ("dynamic evaluation may cost at most about 3x static"). One JSON
line per mode on standard output, with every round's seconds and the load average
(os.getloadavg, 1 minute) before and after each: a ratio taken at a load above the number of
cores is rough. Beside the wall-clock figures, the process's CPU seconds (time.process_time,
every thread's together): with one thread (OPENBLAS_NUM_THREADS=1) their ratio, ``cpu_cost``,
leaves out the time other processes held the core and is the steadier figure on a busy
machine; with two it also counts the time BLAS's threads spend waiting for each other.

The fresh model (the default) draws its text from a Zipf law over its vocabulary. Its dynamic
learning rate is lower than the trained model's default (--dynamic-lr): at 3e-4 the RMS steps
of an untrained 10k-word model push some weights to overflow within a few thousand tokens,
and arithmetic on inf and NaN runs at other speeds than on numbers. The cost of a step does
not depend on its size otherwise; each line carries the perplexity, to show it stayed finite.
The rms form measures its MS on every one of the first 20 segments (then every 100th), which
costs about twice a plain segment: on a short text they weigh more than on PTB's test set
(4,122 segments), so the default text has 10,000 tokens (500 segments).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy

from rnnkit.lm import adapt, evaluate
from rnnkit.lm.adapt import DynamicEval, NeuralCache

MODES = ("static", "cache", "dynamic-rms", "dynamic-sgd", "both")
FRESH_LR = 3e-5


def fresh(vocab_size, hidden, tokens, seed):
    """(a freshly initialised tied GRU 1 x hidden with a full softmax, a Zipf text of its ids, <eos> id)."""
    from rnnkit.lm.data import Encoded
    from rnnkit.lm.model import RNNLM

    model = RNNLM(vocab_size, embed=hidden, hidden=hidden, cell="gru", tie_weights=True, seed=seed)
    rng = numpy.random.default_rng(seed)
    p = 1.0 / numpy.arange(1, vocab_size + 1)
    ids = rng.choice(vocab_size, size=tokens, p=p / p.sum()).astype(numpy.int32)
    return model, Encoded(ids, int((ids == 0).sum()), 0), 0


def trained(model_dir, text):
    from rnnkit.lm.api import LanguageModel
    from rnnkit.lm.data import encode_file

    lm = LanguageModel.load(model_dir)
    return lm.model, encode_file(text, lm.tokenizer, lm.vocab), lm.vocab.eos_id


def runner(mode, model, encoded, eos, lr):
    dynamic = {"rms": DynamicEval(lr=lr or DynamicEval.lr), "sgd": DynamicEval(lr=lr or DynamicEval.lr, form="sgd")}
    settings = {"static": None, "cache": (None, NeuralCache()), "dynamic-rms": (dynamic["rms"], None),
                "dynamic-sgd": (dynamic["sgd"], None), "both": (dynamic["rms"], NeuralCache())}[mode]
    if settings is None:
        return lambda: evaluate.evaluate(model, encoded, eos)["perplexity"]
    return lambda: adapt.evaluate_adaptive(model, encoded, eos, *settings)["perplexity"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a model directory (with --text); default: a fresh GRU")
    ap.add_argument("--text", help="the text to evaluate (with --model)")
    ap.add_argument("--rounds", type=int, default=3, help="turns of every mode; the best of each is kept")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, from {','.join(MODES)}")
    ap.add_argument("--dynamic-lr", type=float, default=None,
                    help=f"dynamic evaluation's rate (default: DynamicEval's; {FRESH_LR:g} for the fresh model)")
    ap.add_argument("--vocab", type=int, default=10000, help="the fresh model's vocabulary")
    ap.add_argument("--hidden", type=int, default=200, help="the fresh model's width")
    ap.add_argument("--tokens", type=int, default=10000,
                    help="the fresh model's text length (the rms form's first 20 segments cost more: see the docstring)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if (args.model is None) != (args.text is None):
        ap.error("--model and --text go together")
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or "static" not in modes:
        ap.error(f"--modes: {', '.join(unknown) or 'static is needed (the others are compared with it)'}")
    if args.model:
        model, encoded, eos = trained(args.model, args.text)
        lr, what = args.dynamic_lr, {"model": args.model, "text": args.text}
    else:
        model, encoded, eos = fresh(args.vocab, args.hidden, args.tokens, args.seed)
        lr = args.dynamic_lr or FRESH_LR
        what = {"model": f"fresh gru 1x{args.hidden}, tied, full softmax, vocab {args.vocab}", "text": "zipf"}
    print(json.dumps({**what, "tokens": encoded.tokens, "rounds": args.rounds, "cores": os.cpu_count(),
                      "dynamic_lr": lr or DynamicEval.lr}), flush=True)
    runs = {m: runner(m, model, encoded, eos, lr) for m in modes}
    seconds = {m: [] for m in modes}
    cpu = {m: [] for m in modes}
    loads = {m: [] for m in modes}
    ppl = {}
    for r in range(args.rounds):
        for i in range(len(modes)):
            m = modes[(r + i) % len(modes)]
            before = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            ppl[m] = runs[m]()
            seconds[m].append(time.perf_counter() - t0)
            cpu[m].append(time.process_time() - c0)
            loads[m].append([round(before, 2), round(os.getloadavg()[0], 2)])
            print(f"round {r + 1}: {m} {seconds[m][-1]:.2f} s, load {before:.1f}", file=sys.stderr, flush=True)
    static, static_cpu = min(seconds["static"]), min(cpu["static"])
    for m in modes:
        best = min(seconds[m])
        print(json.dumps({"mode": m, "tokens_per_second": round(encoded.tokens / best, 1),
                          "cost": round(best / static, 3), "cpu_cost": round(min(cpu[m]) / static_cpu, 3),
                          "best_seconds": round(best, 4), "seconds": [round(s, 4) for s in seconds[m]],
                          "cpu_seconds": [round(s, 4) for s in cpu[m]], "load_before_after": loads[m],
                          "perplexity": ppl[m] if math.isfinite(ppl[m]) else str(ppl[m])}), flush=True)


if __name__ == "__main__":
    main()
