"""Where training's lines go: to the caller (the terminal) and to MODEL_DIR/train.log.

    log = RunLog(print)          # lines before MODEL_DIR exists are kept
    log("epoch   1 ...")
    log.open(out, append=False)  # train.log gets them, and every line after
    log.close()

A run's output is often a pipe: ``rnnkit train ... | head -3`` closes it
after three lines. Python then raises BrokenPipeError at the next write, and
training used to end there, silently and with exit code 0, two epochs into
five. Here a closed output only ends the echo: training goes on, and every
line (the ones the pipe missed too) is in train.log. Each line is flushed as
it is written, so a pipe or ``tee`` sees it at once instead of in 8 KiB
blocks.
"""

import os
import sys

from rnnkit.errors import WriteError

LOG_FILE = "train.log"


class RunLog:
    def __init__(self, echo=print):
        self.echo = echo
        self.path = None
        self._file = None
        self._pending = []

    def open(self, model_dir, append):
        """Start writing MODEL_DIR/train.log (``append``: a resumed run adds to it)."""
        self.path = os.path.join(model_dir, LOG_FILE)
        try:
            os.makedirs(model_dir, exist_ok=True)
            self._file = open(self.path, "a" if append else "w", encoding="utf-8")
        except OSError as exc:
            raise WriteError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        for line in self._pending:
            self._write(line)
        self._pending = []

    def _write(self, line):
        if self._file is None:
            self._pending.append(line)
        else:
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except OSError as exc:  # a full disk: one line, as for the model files
                raise WriteError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def file_only(self, line):
        """A line for train.log alone (the caller prints its own version)."""
        self._write(line)

    def __call__(self, line):
        self._write(line)
        if self.echo is None:
            return
        try:
            self.echo(line)
            sys.stdout.flush()
        except BrokenPipeError:
            self.echo = None
            _stdout_to_devnull()
            self._write(f"(standard output was closed; training goes on, logging here only)")

    def close(self):
        if self._file is not None:
            try:
                self._file.close()
            except OSError:  # the disk filled up: the error that matters was already raised
                pass
            self._file = None


def _stdout_to_devnull():
    """Point the closed stdout at /dev/null, so later prints (and Python's flush at exit) do not fail."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
