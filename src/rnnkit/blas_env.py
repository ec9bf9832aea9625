"""The OpenBLAS settings the `rnnkit` command gives its own process.

OpenBLAS reads them once, when NumPy loads it, so ``apply()`` must run before
the first ``import numpy`` (the command does it first thing; a script of your
own can too, or set the variables in the shell). A value already set wins.

OPENBLAS_THREAD_TIMEOUT: after every matrix product OpenBLAS's worker threads
keep spinning, 2^28 cycles by default (about 0.1 s, longer than a whole
training step), waiting for the next one. rnnkit's softmax, which runs right
after the output layer's product, splits its blocks over the cores with
threads of its own (backend.parallel_map), and one of them then shared a core
with the spinning worker: 15.6-15.9 ms instead of 8.7-8.8 for 700 x 10,000
logits, on this 2-core machine. At 4 (2^4 cycles) the workers go to sleep at
once; waking them for the next product cost less than their spinning did
(whole training steps 2-3% faster, evaluation about 20%; docs/performance.md).
"""

import os

SETTINGS = {"OPENBLAS_THREAD_TIMEOUT": "4"}


def apply(environ=None):
    """Put SETTINGS into ``environ`` (default: this process's) where not already set."""
    environ = os.environ if environ is None else environ
    for name, value in SETTINGS.items():
        environ.setdefault(name, value)
    return environ
