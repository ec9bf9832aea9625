"""How far an epoch has got: a progress bar on a terminal, a line every five minutes without one, or nothing.

    progress = Progress(total_tokens, done_tokens, "epoch 3", quiet, log)
    progress.update(tokens, window, windows, nll_sum, token_count, tokens_per_s, lr)
    progress.close()

The bar (tqdm) shows itself only on a terminal; when output goes to a log file
(nohup, a batch job) a plain line every PROGRESS_SECONDS says the same thing.
``quiet``: neither.
"""

import math
import time

# Without a terminal (output to a log file, nohup) the progress bar is off;
# a plain line this often says instead how far the epoch has got.
PROGRESS_SECONDS = 300
# The figures (perplexity, rate) are refreshed every this many windows.
EVERY_WINDOWS = 20


class Progress:
    def __init__(self, total, initial, desc, quiet=False, log=print):
        from tqdm import tqdm

        self.desc, self.quiet, self.log = desc, quiet, log
        self.bar = tqdm(total=total, initial=min(initial, total), unit="tok", unit_scale=True, desc=desc, leave=False,
                        dynamic_ncols=True, disable=True if quiet else None, mininterval=0.5)
        self._last_line = time.monotonic()

    def update(self, tokens, window, windows, nll, count, rate, lr):
        """``tokens`` more done; ``window`` of ``windows`` finished; ``nll`` / ``count``: the epoch's mean loss."""
        self.bar.update(tokens)
        if window % EVERY_WINDOWS and window != windows:
            return
        figures = f"ppl {math.exp(min(nll / count, 700)):.1f}, lr {lr:g}, {rate:,.0f} tok/s"
        self.bar.set_postfix_str(figures, refresh=False)
        if self.bar.disable and not self.quiet and time.monotonic() - self._last_line >= PROGRESS_SECONDS:
            self._last_line = time.monotonic()
            self.log(f"{self.desc}: window {window}/{windows}, train {figures}")

    def close(self):
        self.bar.close()
