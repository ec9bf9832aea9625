"""One data-parallel worker with the One Billion Word vocabulary (793,471 words), class softmax (docs/scaling.md).

    python benchmarks/large_vocab_workers.py --vocab 793471 --hidden 256 --steps 10

A Zipf (s = 1) corpus of ids is drawn directly (no text), the dictionary's
counts are its counts, the classes are frequency_classes' ~sqrt(V). A Replica
(the worker of `rnnkit train --workers`) runs its steps: apply the previous
summed update, forward, BPTT, its weighted gradient (V's and E's as rows); the
driver's sum and SGD step follow, as in the trainer. Prints tokens/s, the rows
of V and E that travel per step, and the worker's peak RSS, with the load.
"""

import argparse
import json
import os
import resource
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=793_471)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--cell", default="gru")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--bptt", type=int, default=20)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=2_000_000)
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    from rnnkit.backend import xp
    from rnnkit.lm.train.options import resolve_options, settle_softmax
    from rnnkit.lm.vocab import Vocab
    from rnnkit.scale.data_parallel import sum_results
    from rnnkit.scale.replica import Replica

    rng = xp.random.default_rng(0)
    p = 1.0 / xp.arange(1, args.vocab + 1)
    p /= p.sum()
    ids = rng.choice(args.vocab, args.tokens, p=p).astype(xp.int32)
    counts = xp.bincount(ids, minlength=args.vocab)
    vocab = Vocab(["<unk>", "<eos>"] + [f"w{i}" for i in range(2, args.vocab)], counts.tolist())
    opts = resolve_options(dict(cell=args.cell, hidden=args.hidden, batch=args.batch, bptt=args.bptt, lr=0.1))
    opts["softmax"] = "class"
    settle_softmax(opts, len(vocab))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker = Replica(ids, vocab.to_json(), opts, 0, args.batch)
    with threadpool_limits(1):
        pending, times, sent = None, [], []
        for k in range(args.steps + 2):
            t0 = time.perf_counter()
            result = worker.step(pending, 0, k)
            loss, tokens, dense, sparse, factored = sum_results([result])
            pending = (dense, sparse, factored, 1.0, opts["lr"])
            t1 = time.perf_counter()
            if k >= 2:
                times.append((t1 - t0, result[-1]))
                sent.append({name: int(rows.size) for name, (rows, _) in sparse.items()})
                sent[-1]["dense_floats"] = int(sum(g.size for g in dense.values()))
                sent[-1]["factored_floats"] = int(sum(p[1].size + p[2].size for p in factored.values()))
    step = sorted(t for t, _ in times)[len(times) // 2]
    print(json.dumps({
        "vocab": args.vocab, "classes": opts["classes"], "model": f"{args.cell} 1x{args.hidden}",
        "batch": args.batch, "bptt": args.bptt, "steps": args.steps,
        "step_ms": step * 1e3, "tokens_per_s": args.batch * args.bptt / step,
        "rows_per_step": sent[-1], "params": int(worker.model.num_params()),
        "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_model_mb": rss0 / 1024, "load": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    main()
