"""How far an epoch has got: a progress bar on a terminal, a line every five minutes without one, or nothing.

    progress = Progress(total_tokens, done_tokens, "epoch 3", quiet, log, log_interval)
    progress.update(tokens, window, windows, nll_sum, token_count, tokens_per_s, lr)
    progress.close()

The bar (tqdm) shows itself only on a terminal; when output goes to a log file
(nohup, a batch job) a plain line every PROGRESS_SECONDS says the same thing.
``quiet``: neither. ``log_interval`` N (--log-interval): a line every N
windows instead of every five minutes, bar or not, quiet or not (asked for by
name, so always given; it goes to train.log too).
"""

import math
import time

# Without a terminal (output to a log file, nohup) the progress bar is off;
# a plain line this often says instead how far the epoch has got.
PROGRESS_SECONDS = 300
# The figures (perplexity, rate) are refreshed every this many windows.
EVERY_WINDOWS = 20


class Progress:
    def __init__(self, total, initial, desc, quiet=False, log=print, log_interval=None):
        from tqdm import tqdm

        self.desc, self.quiet, self.log, self.log_interval = desc, quiet, log, log_interval
        self.bar = tqdm(total=total, initial=min(initial, total), unit="tok", unit_scale=True, desc=desc, leave=False,
                        dynamic_ncols=True, disable=True if quiet else None, mininterval=0.5)
        self._last_line = time.monotonic()

    def update(self, tokens, window, windows, nll, count, rate, lr):
        """``tokens`` more done; ``window`` of ``windows`` finished; ``nll`` / ``count``: the epoch's mean loss."""
        self.bar.update(tokens)
        refresh = not window % EVERY_WINDOWS or window == windows
        if self.log_interval:
            line = not window % self.log_interval
        else:
            line = refresh and self.bar.disable and not self.quiet \
                and time.monotonic() - self._last_line >= PROGRESS_SECONDS
        if not (refresh or line):
            return
        figures = f"ppl {math.exp(min(nll / count, 700)):.1f}, lr {lr:g}, {rate:,.0f} tok/s"
        if refresh:
            self.bar.set_postfix_str(figures, refresh=False)
        if line:
            self._last_line = time.monotonic()
            self.bar.clear()
            self.log(f"{self.desc}: window {window}/{windows}, train {figures}")
            self.bar.refresh()

    def close(self):
        self.bar.close()
