"""Training speed of the full softmax against the class-based softmax at a large vocabulary.

Word ids follow a Zipf law (exponent 1) over a vocabulary of 44,000, the size
of fortunes-zh cut by jieba; the class softmax gets sqrt(V) frequency classes
from those counts, as `rnnkit train --softmax class` does. Same Elman 1 x 200
model otherwise; alternating repetitions, median tokens per second.

    python benchmarks/large_vocab_speed.py [--vocab 44000] [--reps 3] [--steps 3]
"""

import argparse
import json
import statistics
import time

import numpy

from rnnkit.lm.model import RNNLM
from rnnkit.nn.class_softmax import frequency_classes
from rnnkit.lm.train import train_step
from rnnkit.nn.optim import SGD


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vocab", type=int, default=44000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=3)
    args = p.parse_args()
    rng = numpy.random.default_rng(0)
    zipf = 1.0 / numpy.arange(1, args.vocab + 1)
    ids = rng.choice(args.vocab, size=200_000, p=zipf / zipf.sum()).astype(numpy.int32)
    counts = numpy.bincount(ids, minlength=args.vocab)
    models = {}
    classes = int(round(args.vocab ** 0.5))
    for softmax in ("full", "class"):
        kw = {"word_class": frequency_classes(counts, classes), "classes": classes} if softmax == "class" else {}
        m = RNNLM(args.vocab, embed=200, hidden=200, softmax=softmax, seed=0, **kw)
        models[softmax] = (m, SGD(m.params, m.grads, lr=1.0))
    speeds = {k: [] for k in models}
    T, B = 35, 20

    def run(name, start):
        m, opt = models[name]
        t0 = time.perf_counter()
        for s in range(args.steps):
            o = (start + s) * T * B
            x = ids[o:o + T * B].reshape(T, B)
            y = ids[o + 1:o + 1 + T * B].reshape(T, B)
            train_step(m, opt, x, y, clip=0.25)  # what rnnkit train does per window
        return args.steps * T * B / (time.perf_counter() - t0)

    for name in models:
        run(name, 0)
    for rep in range(args.reps):
        for name in (("full", "class") if rep % 2 == 0 else ("class", "full")):
            speeds[name].append(run(name, rep * args.steps))
    full, cls = statistics.median(speeds["full"]), statistics.median(speeds["class"])
    print(json.dumps({"vocab": args.vocab, "full_tokens_per_s": full, "class_tokens_per_s": cls,
                      "speedup": cls / full, "classes": int(models["class"][0].output.num_classes)}))


if __name__ == "__main__":
    main()
