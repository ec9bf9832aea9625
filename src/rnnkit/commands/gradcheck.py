"""`rnnkit gradcheck`: the numerical gradient-check matrix, as a table or JSON."""

import json
import sys

from rnnkit.errors import UsageError
from rnnkit.nn.activations import ACTIVATIONS
from rnnkit.nn.checks import TOLERANCE, cases, run_case
from rnnkit.nn.stack import CELLS

NAME = "gradcheck"
HELP = "check every BPTT gradient against finite differences (float64)"


def add_arguments(p):
    p.add_argument("--cell", action="append", choices=CELLS,
                   help="cell(s) to check (repeatable; default: rnn)")
    p.add_argument("--activation", action="append",
                   help=f"Elman activation(s) to check (repeatable; default: all of {', '.join(ACTIVATIONS)})")
    p.add_argument("--depth", action="append", type=int, help="stack depth(s) to check (default: 1 2 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs")
    p.add_argument("--json", action="store_true", help="print one JSON record per case and array")


def run(args):
    activations = tuple(args.activation or ACTIVATIONS)
    for a in activations:
        if a not in ACTIVATIONS:
            raise UsageError(f"unknown activation {a!r}; expected one of {', '.join(ACTIVATIONS)}")
    depths = tuple(args.depth or (1, 2, 3))
    if any(d < 1 for d in depths):
        raise UsageError("--depth must be at least 1")
    worst = 0.0
    failed = 0
    if not args.json:
        print(f"{'cell':5} {'activation':10} {'dir':4} {'depth':>5} {'form':8} {'arrays':>6}  {'max rel. error':>14}  worst array")
    for case in cases(cells=tuple(args.cell or ("rnn",)), activations=activations, depths=depths):
        errors = run_case(case, seed=args.seed)
        name = max(errors, key=errors.get)
        err = errors[name]
        worst = max(worst, err)
        ok = err <= TOLERANCE
        failed += not ok
        if args.json:
            for array, e in errors.items():
                print(json.dumps({**case, "param": array, "max_rel_error": e, "ok": e <= TOLERANCE}))
        else:
            print(f"{case['cell']:5} {case['activation']:10} {case['direction']:4} {case['depth']:>5} "
                  f"{case['form']:8} {len(errors):>6}  {err:14.2e}  {name}{'' if ok else '  FAIL'}")
    if not args.json:
        verdict = "all gradients agree" if not failed else f"{failed} case(s) above the tolerance"
        print(f"worst relative error {worst:.2e} (tolerance {TOLERANCE:g}): {verdict}")
    if failed:
        print(f"rnnkit gradcheck: {failed} case(s) have a relative error above {TOLERANCE:g}", file=sys.stderr)
        return 1
    return 0
