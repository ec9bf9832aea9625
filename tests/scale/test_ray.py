"""rnnkit train --workers N on a local Ray cluster (loopback, started once for the module): the same weights as
one process for N = 1, 2, 3, a killed worker restarted from the checkpoint, an unreachable cluster in one line.

Starting an actor's process is what costs here (seconds each on a loaded machine), so the module starts as few
as the checks need: one run per N, and the killed run is compared with in-process replicas (the same arithmetic:
same code, one BLAS thread, the driver's sum in worker order), which train as Ray's do to the last bit. The
corpus is small (8 windows an epoch): every check below needs two epochs, not many windows."""

import os
import signal

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'rnnkit[scale]'")

from rnnkit.errors import RnnkitError  # noqa: E402
from rnnkit.lm.train import train  # noqa: E402
from rnnkit.scale.data_parallel import train_data_parallel  # noqa: E402
from test_data_parallel import (  # noqa: E402
    DROPOUT, MODELS, options, quiet, relative_difference, small_corpus, weights,
)

LINES = 36  # 8 windows an epoch of 6 streams x 5 steps


@pytest.fixture(scope="module", autouse=True)
def cluster():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # No runtime_env (the replicas hold BLAS to one thread themselves, with threadpoolctl): with one, Ray does not
    # give the actors the worker processes it prestarts at init, and starts (and pays for) new ones.
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.mark.parametrize("workers,model", [(1, MODELS[0]), (2, MODELS[1]), (3, MODELS[2])])
def test_same_weights_as_one_process(tmp_path, workers, model):
    # with dropout (on the embedding, between two layers, before the output): the masks are one process's too
    tr, va = small_corpus(tmp_path, lines=LINES)
    opts = options(*model, **DROPOUT)
    train(tr, va, str(tmp_path / "one"), opts, quiet=True, log=quiet)
    lines = []
    train_data_parallel(tr, va, str(tmp_path / "ray"), opts, workers=workers, quiet=True, log=lines.append)
    assert any(f"{workers} worker(s) on a local Ray instance" in line for line in lines)
    assert relative_difference(weights(tmp_path / "one"), weights(tmp_path / "ray")) <= 1e-5


def test_a_killed_worker_restarts_from_the_checkpoint(tmp_path):
    tr, va = small_corpus(tmp_path, lines=LINES)
    opts = options("gru", "full", 2.0, **DROPOUT)
    train_data_parallel(tr, va, str(tmp_path / "whole"), opts, workers=2, backend="local", quiet=True, log=quiet)
    killed = []

    def kill_one(trainer):
        if trainer.state["epoch"] == 1 and trainer.state["window"] == 4 and not killed:
            pid = trainer.pool.each("pid", [()] * trainer.workers)[1]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    lines = []
    result = train_data_parallel(tr, va, str(tmp_path / "killed"), opts, workers=2, quiet=True, log=lines.append,
                                 after_step=kill_one)
    assert killed and result.status == "epochs"
    restarts = [line for line in lines if "restarting 2 worker(s) from the checkpoint" in line]
    assert len(restarts) == 1 and "worker 1 died" in restarts[0] and "epoch 2, window 0/" in restarts[0]
    assert relative_difference(weights(tmp_path / "whole"), weights(tmp_path / "killed")) == 0.0


def test_an_unreachable_cluster_is_one_line(tmp_path):
    from rnnkit.scale.cluster import _check_reachable

    with pytest.raises(RnnkitError, match=r"127.0.0.1:9: no Ray cluster reachable there") as exc:
        _check_reachable("127.0.0.1:9")
    assert "\n" not in exc.value.cli_message() and "--ray-address" in exc.value.cli_message()


def test_cli_flags(tmp_path):
    import subprocess
    import sys

    tr, va = small_corpus(tmp_path, lines=LINES)
    base = [sys.executable, "-m", "rnnkit.cli", "train", tr, "--valid", va, "--out", str(tmp_path / "m"), "--quiet"]
    r = subprocess.run(base + ["--workers", "2", "--ray-address", "127.0.0.1:9"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "--ray-address 127.0.0.1:9: no Ray cluster reachable there" in r.stderr
    r = subprocess.run(base + ["--ray-address", "127.0.0.1:9"], capture_output=True, text=True)
    assert r.returncode == 2 and "go with --workers N" in r.stderr
