"""The OpenBLAS settings the `rnnkit` command gives its own process.

OpenBLAS reads them once, when NumPy loads it, so ``apply()`` must run before
the first ``import numpy`` (the command does it first thing; a script of your
own can too, or set the variables in the shell). A value already set wins.

OPENBLAS_THREAD_TIMEOUT: after every matrix product OpenBLAS's worker threads
keep spinning, 2^28 cycles by default (about 0.1 s, longer than a whole
training step), waiting for the next one. rnnkit's softmax, which runs right
after the output layer's product, splits its blocks over the cores with
threads of its own (parallel.parallel_map), and one of them then shared a core
with the spinning worker: 15.6-15.9 ms instead of 8.7-8.8 for 700 x 10,000
logits, on this 2-core machine. The value is a power of two: 2^21 cycles is
about 0.9 ms here, longer than the gap between two steps' small products in
a recurrent layer's loop (0.1-0.3 ms), so the workers stay awake through the
loop, and short against the softmax's 8 ms. Measured on this machine
(docs/performance.md): against 4 (sleep at once, the previous setting) an
LSTM 200 layer's forward and BPTT took 15.8-17.2 ms instead of 17.4-20.2, a
GRU's 13.7-15.1 instead of 15.5-17.6, the softmax the same within noise;
against the default the softmax takes half the time.
"""

import os

SETTINGS = {"OPENBLAS_THREAD_TIMEOUT": "21"}


def apply(environ=None):
    """Put SETTINGS into ``environ`` (default: this process's) where not already set."""
    environ = os.environ if environ is None else environ
    for name, value in SETTINGS.items():
        environ.setdefault(name, value)
    return environ
