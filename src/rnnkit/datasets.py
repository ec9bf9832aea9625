"""``rnnkit.datasets``: standard corpora (see rnnkit.lm.datasets)."""

from rnnkit.lm.datasets import PTB_MD5, ptb, ptb_files

__all__ = ["PTB_MD5", "ptb", "ptb_files"]
