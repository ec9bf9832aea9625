"""The lock on a model directory: one writer at a time.

    with DirLock(model_dir):
        ...   # train, save

The lock is a file, MODEL_DIR/.lock, holding the owner's pid, and an
advisory lock (flock) on it. The kernel drops the flock when its process
ends, however it ends (kill -9 included), so a lock left by a dead process
is recognised as stale and taken over; the pid in the file names the live
owner in the message a second process gets.
"""

import os

from rnnkit.errors import RnnkitError, WriteError

try:
    import fcntl
except ImportError:  # not POSIX: the pid in the file is all there is
    fcntl = None

LOCK = ".lock"


def process_alive(pid):
    """Whether a process with this pid exists (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class DirLock:
    def __init__(self, directory):
        self.directory = directory
        self.path = os.path.join(directory, LOCK)
        self.fd = None
        self.stale_pid = None  # the pid of a dead owner whose lock was taken over

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def _owner(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _busy(self, pid):
        who = f"pid {pid}" if pid else "another process"
        return RnnkitError(f"{self.directory}: in use by another rnnkit process ({who}, lock file {self.path}); "
                           "wait for it to finish or stop it")

    def acquire(self):
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o644)
            except FileExistsError:  # no flock: the pid decides
                pid = self._owner()
                if pid and process_alive(pid) and pid != os.getpid():
                    raise self._busy(pid) from None
                self.stale_pid = pid
                os.remove(self.path)
                continue
            except OSError as exc:
                raise WriteError(f"{self.path}: cannot create the lock file ({exc.strerror or exc})") from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    raise self._busy(self._owner()) from None
                # The owner before us may have removed the file between our open and
                # our flock: then the lock we hold is on a name nobody sees. Again.
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                pid = self._owner()
                if pid and pid != os.getpid():
                    self.stale_pid = pid  # its process died holding the lock (the kernel let go of it)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return self

    def release(self):
        if self.fd is None:
            return
        try:
            os.remove(self.path)  # before letting go: nobody can take a lock on a name that is gone
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
