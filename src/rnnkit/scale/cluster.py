"""Where the replicas live: Ray actors (``RayPool``), or this process (``LocalPool``, for tests and N = 1 checks).

Both pools offer the same calls: ``each(method, args_per_worker)`` runs a
Replica method on every worker and returns the results in worker order;
``step(update, epoch, index)`` hands the same update to all of them;
``shutdown()`` stops them.

How gradients travel: through Ray's object store, not a collective. The
driver puts the summed update in the store once (``ray.put``) and every actor
reads it; on one machine that read is zero-copy (shared memory), across
machines Ray moves it once per node. Ray's collective library
(ray.util.collective) offers NCCL, which needs GPUs and CuPy, and Gloo, whose
Python binding comes with PyTorch; rnnkit keeps PyTorch out of its run time,
so the object store it is. The price, reduction at the driver (N gradients
in, one sum out), is measured in docs/scaling.md.
"""

import socket

from rnnkit.errors import RnnkitError
from rnnkit.scale.replica import Replica


class WorkerDied(Exception):
    """A worker process is gone (killed, crashed, its node lost)."""

    def __init__(self, worker, detail):
        super().__init__(f"{'a worker' if worker is None else f'worker {worker}'} died ({detail})")
        self.worker, self.detail = worker, detail


class LocalPool:
    """The replicas as objects of this process, called one after the other."""

    def __init__(self, make_args):
        self.make_args = make_args
        self.workers = []
        self.restart()

    def each(self, method, args_per_worker):
        return [getattr(w, method)(*args) for w, args in zip(self.workers, args_per_worker)]

    def step(self, update, epoch, index):
        return [w.step(update, epoch, index) for w in self.workers]

    def restart(self):
        self.shutdown()
        try:
            for args in self.make_args:
                self.workers.append(Replica(*args))
        except BaseException:
            self.shutdown()  # the replicas built so far give their hold on BLAS back
            raise

    def shutdown(self):
        # Each replica held BLAS to one thread over what it found, the first over the driver's own
        # setting: undone in reverse order, the last restore gives the driver its threads back.
        for worker in reversed(self.workers):
            worker.close()
        self.workers = []


def _check_reachable(address):
    """One clear line, at once, for an address where no Ray head answers (ray.init would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if address in ("auto", "local") or address.startswith("ray://") or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise RnnkitError(f"{{ray_address}} {address}: no Ray cluster reachable there ({exc.strerror or exc}); "
                          "start one with `ray start --head` and pass the address it prints", "ray_address") from None


def connect(address=None, num_cpus=None):
    """ray.init: join the cluster at ``address``, or start a local one (no dashboard). Returns the ray module."""
    try:
        import ray
    except ImportError:
        raise RnnkitError("{workers} needs Ray: pip install 'rnnkit[scale]' (or pip install ray)", "workers") from None
    if ray.is_initialized():
        return ray
    if address is not None:
        _check_reachable(address)
    try:
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError ... for a cluster it cannot join
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RnnkitError(f"{{ray_address}} {address}: cannot join the Ray cluster ({first})", "ray_address") from None
    return ray


class RayPool:
    """The replicas as Ray actors, one CPU each."""

    def __init__(self, ray, make_args):
        self.ray, self.make_args = ray, make_args
        self.actor_class = ray.remote(num_cpus=1, max_restarts=0)(Replica)
        self._start()

    def _start(self):
        self.workers = [self.actor_class.remote(*args) for args in self.make_args]
        self._get([w.pid.remote() for w in self.workers])  # constructed (data mapped, model built) before timing

    def _get(self, refs):
        from ray.exceptions import RayActorError, WorkerCrashedError

        try:
            return self.ray.get(refs)
        except (RayActorError, WorkerCrashedError) as exc:
            raise WorkerDied(self._dead(refs), type(exc).__name__) from None

    def _dead(self, refs):
        """The first worker whose call failed because its process is gone. The others' calls are waited for:
        a call still running is no failure (asking with timeout 0 took a busy worker for the dead one)."""
        from ray.exceptions import RayActorError, WorkerCrashedError

        for i, ref in enumerate(refs):
            try:
                self.ray.get(ref, timeout=120)
            except (RayActorError, WorkerCrashedError):
                return i
            except Exception:  # still running after that long, or failed otherwise: not known to be dead
                continue
        return None

    def each(self, method, args_per_worker):
        return self._get([getattr(w, method).remote(*args) for w, args in zip(self.workers, args_per_worker)])

    def step(self, update, epoch, index):
        ref = self.ray.put(update) if update is not None else None  # once, read by every actor
        return self._get([w.step.remote(ref, epoch, index) for w in self.workers])

    def restart(self):
        self.shutdown()
        self._start()

    def shutdown(self):
        for w in self.workers:
            try:
                self.ray.kill(w)
            except Exception:  # already gone
                pass
        self.workers = []
