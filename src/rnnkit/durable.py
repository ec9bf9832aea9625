"""Making a rename durable: every rnnkit file is written to a temporary name, fsynced and
renamed over the old one; the rename itself is on disk only once the directory is fsynced.
Shared by the model files' writer (rnnkit.lm.io) and the N-gram writer (rnnkit.ngram), which
does not import rnnkit.lm.io (docs/architecture.md)."""

import os


def sync_dir(directory):
    """Make the renames in ``directory`` durable (where the system allows it)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
