"""Long dependencies: which cells learn to recall a symbol seen T steps earlier.

The task and the training loop are examples/long_dependency.py (one recurrent
layer of 32 units on one-hot token ids, 4 message symbols so chance is 25%,
4 distractor symbols, Adam lr 0.01, batch 32, clipping at global norm 1).
For each cell and distance T it reports

- the fraction of the answer's error term that reaches the message at
  initialisation, ‖dE/dx_0‖ / ‖dE/dx_T‖ (式3 in numbers);
- the iteration at which held-out accuracy first reached 99% (checked every
  25 iterations on 500 held-out sequences), or "-" within the budget;
- the held-out accuracy at the end.

Prints one JSON record per run, then a markdown table with every seed's outcome
(``--from-json`` prints the table of saved runs, e.g. two runs merged).

    python benchmarks/long_dependency.py --seeds 3             # the table in docs/results.md
    python benchmarks/long_dependency.py --steps 200 --rows 0,3,5 --iterations 300
"""

import argparse
import importlib.util
import json
import pathlib
import statistics

ROOT = pathlib.Path(__file__).resolve().parent.parent

# (label, cell, layer keyword arguments)
ROWS = [
    ("rnn tanh (xavier)", "rnn", {}),
    ("lstm, forget bias 1 (default)", "lstm", {"forget_bias": 1.0}),
    ("lstm, forget bias 5", "lstm", {"forget_bias": 5.0}),
    ("lstm, forget bias 5, input bias -5", "lstm", {"forget_bias": 5.0, "input_bias": -5.0}),
    ("gru, update bias 0 (default)", "gru", {"update_bias": 0.0}),
    ("gru, update bias 5", "gru", {"update_bias": 5.0}),
]


def load_task():
    spec = importlib.util.spec_from_file_location("long_dependency", ROOT / "examples" / "long_dependency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, action="append", help="distance(s) T (repeatable; default 50 100 200)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per cell and distance (0 .. n-1)")
    p.add_argument("--iterations", type=int, default=1000, help="training budget per run (batches of 32)")
    p.add_argument("--rows", default=",".join(str(i) for i in range(len(ROWS))),
                   help="which rows of the table to run, as indices: " +
                        "; ".join(f"{i} {label}" for i, (label, _, _) in enumerate(ROWS)))
    p.add_argument("--from-json", nargs="+", metavar="LOG",
                   help="print the table of earlier runs (files holding this script's JSON lines) and exit")
    args = p.parse_args(argv)
    if args.from_json:
        results = [json.loads(line) for name in args.from_json for line in open(name) if line.startswith("{")]
        print(table(results))
        return
    task = load_task()
    steps_list = args.steps or [50, 100, 200]
    rows = [ROWS[int(i)] for i in args.rows.split(",")]
    results = []
    for steps in steps_list:
        for label, cell, kw in rows:
            for seed in range(args.seeds):
                ratio = task.error_term_ratio(cell, steps, seed=seed, **kw)
                r = task.train(cell, steps=steps, iterations=args.iterations, seed=seed, **kw)
                r.update(label=label, error_term_at_init=ratio, budget=args.iterations, **kw)
                results.append(r)
                print(json.dumps(r), flush=True)

    print()
    print(table(results))


def table(results):
    """Markdown: one row per cell and distance, per-seed outcomes side by side."""
    seeds = sorted({r["seed"] for r in results})
    budgets = sorted({r.get("budget", r["iterations"]) for r in results if r["solved_at"] is None} or {0})
    lines = [f"Recall a symbol seen T steps earlier: 4 symbols (chance 25%), one layer of 32 units, "
             f"batch 32, seeds {', '.join(map(str, seeds))}; '-' = not solved within the budget "
             f"({', '.join(map(str, budgets))} iterations)", "",
             "| cell | T | error term reaching step 0 at init (median) | solved (99%) at iteration, per seed "
             "| final accuracy, per seed | seconds (median) |",
             "|---|---:|---:|---|---|---:|"]
    keys = []
    for r in results:
        if (r["label"], r["steps"]) not in keys:
            keys.append((r["label"], r["steps"]))
    for label, steps in sorted(keys, key=lambda k: (k[1], keys.index(k))):
        rs = sorted((r for r in results if r["label"] == label and r["steps"] == steps), key=lambda r: r["seed"])
        solved = ", ".join("-" if r["solved_at"] is None else str(r["solved_at"]) for r in rs)
        acc = " / ".join(f"{r['accuracy']:.3f}" for r in rs)
        lines.append(f"| {label} | {steps} | {statistics.median(r['error_term_at_init'] for r in rs):.1e} | {solved} | "
                     f"{acc} | {statistics.median(r['seconds'] for r in rs):.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
