"""Beyond one process: corpora prepared once and memory-mapped (prepare.py), and
synchronous data-parallel training on Ray (rnnkit[scale])."""
