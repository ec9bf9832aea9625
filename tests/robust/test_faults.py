"""Lost or clobbered work: the directory lock, whole-directory atomic saves, stale temporaries,
--force over an old run, and a crash at every write step of a training run."""

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from rnnkit.errors import RnnkitError, WriteError
from rnnkit.lm import io
from rnnkit.lm.api import LanguageModel
from rnnkit.lm.lock import DirLock
from rnnkit.lm.train import train

from robust_helpers import TINY, quiet, write_corpus

ARGS = ["--hidden", "8", "--embed", "4", "--batch", "4", "--bptt", "8", "--epochs", "2", "--optimizer", "adam",
        "--lr", "0.01", "--seed", "5", "--quiet", "--dropout", "0.1"]


def _weights(model_dir):
    arrays, _ = io.read_tensors(str(model_dir / io.WEIGHTS))
    return arrays


def _rnnkit(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rnnkit.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


# --- the lock ------------------------------------------------------------------


def test_second_process_on_the_same_directory_is_refused_naming_the_first(corpus, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom rnnkit.lm.lock import DirLock\n"
                               f"with DirLock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for force in (False, True):
            with pytest.raises(RnnkitError) as info:
                train(str(corpus[0]), str(corpus[1]), str(out), TINY, force=force, quiet=True, log=quiet)
            assert f"pid {holder.pid}" in str(info.value) and "in use" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    # the holder died with the lock file still there: a stale lock, taken over
    assert (out / ".lock").exists()
    result = train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=1), quiet=True, log=quiet)
    assert result.status == "epochs" and not (out / ".lock").exists()


def test_lock_notices_a_dead_owner(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(dead.stdout)
    with DirLock(str(tmp_path)) as lock:
        assert lock.stale_pid == int(dead.stdout)
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())


@pytest.fixture
def lock_without_fcntl(monkeypatch):
    """rnnkit.lm.lock imported where fcntl does not exist (not POSIX); imported again afterwards."""
    import importlib

    from rnnkit.lm import lock

    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl now raises ImportError
    importlib.reload(lock)
    yield lock
    monkeypatch.undo()
    importlib.reload(lock)
    assert lock.fcntl is not None


# A process that holds MODEL_DIR's lock where fcntl is missing, until it is killed.
_HOLD_WITHOUT_FCNTL = ("import sys, time\nsys.modules['fcntl'] = None\nfrom rnnkit.lm.lock import DirLock\n"
                       "with DirLock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n")


def test_lock_without_fcntl_falls_back_to_the_pid(lock_without_fcntl, tmp_path):
    lock = lock_without_fcntl
    assert lock.fcntl is None
    with lock.DirLock(str(tmp_path)) as held:
        assert held.stale_pid is None and (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / ".lock").exists()
    # another live process holds it: refused, naming its pid, and its lock file left alone
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_WITHOUT_FCNTL, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RnnkitError, match=f"in use by another rnnkit process \\(pid {holder.pid},"):
            lock.DirLock(str(tmp_path)).acquire()
        assert (tmp_path / ".lock").read_text().strip() == str(holder.pid)
    finally:
        holder.kill()
        holder.wait()
    # killed, it left its file: the pid is dead, so the lock is taken over
    with lock.DirLock(str(tmp_path)) as taken:
        assert taken.stale_pid == holder.pid
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    # a lock file that names no pid (empty, damaged) is no owner either
    for content in ("", "not a pid\n"):
        (tmp_path / ".lock").write_text(content)
        with lock.DirLock(str(tmp_path)) as taken:
            assert taken.stale_pid == 0


def test_train_without_fcntl_refuses_a_directory_in_use(lock_without_fcntl, corpus, tmp_path):
    from rnnkit.lm.train import trainer

    out = tmp_path / "m"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_WITHOUT_FCNTL, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        # trainer bound DirLock at its import; the fallback is what that name runs too
        assert trainer.DirLock.acquire.__globals__["fcntl"] is None
        with pytest.raises(RnnkitError, match=f"pid {holder.pid}"):
            train(str(corpus[0]), str(corpus[1]), str(out), TINY, force=True, quiet=True, log=quiet)
    finally:
        holder.kill()
        holder.wait()


# --- durability: fsync before the rename, and of the directory after it -------------------------


@pytest.fixture
def disk_events(monkeypatch):
    """Every fsync (of a file: its inode; of a directory) and rename, in order, as ("file", inode),
    ("dir", path's inode) and ("replace", inode of the file renamed, destination)."""
    events, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        info = os.fstat(fd)
        events.append(("dir" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        return real_fsync(fd)

    def replace(src, dst, **kw):
        events.append(("replace", os.stat(src).st_ino, os.path.abspath(dst)))
        return real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def _check_durable(events, path):
    """The file now at ``path`` was fsynced before its rename, and its directory after it."""
    path = os.path.abspath(path)
    inode, directory = os.stat(path).st_ino, os.stat(os.path.dirname(path)).st_ino
    at = max(i for i, e in enumerate(events) if e[0] == "replace" and e[2] == path)
    assert events[at][1] == inode
    assert ("file", inode) in events[:at], f"{path}: not fsynced before its rename: {events}"
    assert ("dir", directory) in events[at + 1:], f"{path}: its directory not fsynced after the rename: {events}"


def test_atomic_write_fsyncs_the_file_then_the_directory(disk_events, tmp_path):
    io.atomic_write(str(tmp_path / "a.bin"), b"x" * 100)
    _check_durable(disk_events, tmp_path / "a.bin")
    assert [e[0] for e in disk_events] == ["file", "replace", "dir"]


def test_model_save_fsyncs_every_file(disk_events, model_copy):
    lm = LanguageModel.load(str(model_copy))
    lm.save(str(model_copy), force=True)
    for name in (io.WEIGHTS, io.VOCAB, io.CONFIG):
        _check_durable(disk_events, model_copy / name)


def test_arpa_writer_fsyncs_the_file_then_the_directory(disk_events, tmp_path):
    from rnnkit.ngram import NgramModel

    text = tmp_path / "t.txt"
    text.write_text("the cat sat\nthe dog ran\n")
    model = NgramModel.train(str(text), order=2)
    for name in ("m.arpa", "m.arpa.gz"):
        model.write_arpa(str(tmp_path / name))
        _check_durable(disk_events, tmp_path / name)
        _check_durable(disk_events, tmp_path / (name + ".json"))
    model.write_binary(str(tmp_path / "m.bin"))
    _check_durable(disk_events, tmp_path / "m.bin")


def test_figures_are_written_atomically(disk_events, model_copy, tmp_path, monkeypatch, capsys):
    """plot (and gradflow) wrote the PNG in place: a full disk left half a figure over the old one."""
    pytest.importorskip("matplotlib")
    from rnnkit.cli import main

    (tmp_path / "figures").mkdir()
    out = tmp_path / "figures" / "curves.png"
    assert main(["plot", str(model_copy), "--out", str(out), "--dpi", "20"]) == 0
    _check_durable(disk_events, out)
    before = out.read_bytes()

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    assert main(["plot", str(model_copy), "--out", str(out), "--dpi", "30"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left" in err
    assert out.read_bytes() == before and [p.name for p in out.parent.iterdir()] == ["curves.png"]


# --- whole-directory saves -----------------------------------------------------------


def _crash_save_at(model_dir, step, arrays_new, config, vocab_json):
    """Run save_model in a child process that ends itself at write step ``step``; True if it did."""
    code = ("import json, numpy as np, sys\nfrom rnnkit.lm import io\n"
            "arrays = dict(np.load(sys.argv[1]))\n"
            "io.save_model(sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), arrays)\n")
    npz = model_dir.parent / "new.npz"
    np.savez(npz, **arrays_new)
    import json
    done = subprocess.run([sys.executable, "-c", code, str(npz), str(model_dir), json.dumps(config),
                           json.dumps(vocab_json)], env={**os.environ, "RNNKIT_TEST_CRASH_AT_WRITE": str(step)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 70), done.stderr
    return done.returncode == 70


@pytest.mark.slow
def test_save_killed_at_every_step_leaves_old_or_new_model(model_copy):
    old = LanguageModel.load(str(model_copy))
    old_arrays = {k: v for k, v in _weights(model_copy).items()}
    new_arrays = {k: (v + 1 if v.dtype.kind == "f" else v) for k, v in old_arrays.items()}
    config = {k: v for k, v in old.config.items() if k not in ("format", "format_version", "files")}
    vocab_json = old.vocab.to_json()
    seen = set()
    for step in range(1, 40):
        crashed = _crash_save_at(model_copy, step, new_arrays, config, vocab_json)
        got = _weights_loaded(model_copy)
        which = "old" if all(np.array_equal(got[k], old_arrays[k]) for k in got) else "new"
        if which == "new":
            assert all(np.array_equal(got[k], new_arrays[k]) for k in got)
        seen.add(which)
        if not crashed:
            assert which == "new" and not [n for n in os.listdir(model_copy) if n.startswith(".")]
            break
        # put the old generation back for the next crash point (a save over the mixed state is checked below)
        io.save_model(str(model_copy), config, vocab_json, old_arrays)
    else:
        pytest.fail("save_model never finished")
    assert seen == {"old", "new"} and step > 5


def _weights_loaded(model_dir):
    lm = LanguageModel.load(str(model_dir))
    return {**lm.model.params, **lm.model.buffers()}


def test_a_save_after_an_unfinished_one_keeps_the_committed_generation(model_copy):
    """A crash after weights.safetensors was replaced, then another save that crashes too."""
    old_arrays = _weights(model_copy)
    lm = LanguageModel.load(str(model_copy))
    config = {k: v for k, v in lm.config.items() if k not in ("format", "format_version", "files")}
    mid = {k: (v + 1 if v.dtype.kind == "f" else v) for k, v in old_arrays.items()}
    # steps: link weights (2), link vocab (2), write weights (2): stop right after the new weights' rename
    assert _crash_save_at(model_copy, 7, mid, config, lm.vocab.to_json())
    name = next(k for k, v in old_arrays.items() if v.dtype.kind == "f")
    assert not np.array_equal(_weights(model_copy)[name], old_arrays[name])
    for step in range(1, 5):
        assert _crash_save_at(model_copy, step, {k: v * 2 for k, v in mid.items()}, config, lm.vocab.to_json())
        got = _weights_loaded(model_copy)
        assert all(np.array_equal(got[k], old_arrays[k]) for k in got)


def test_old_model_directories_still_load():
    here = os.path.join(os.path.dirname(__file__), "..", "fixtures", "old_models", "lm-class")
    assert LanguageModel.load(here).vocab


# --- temporaries and --force ----------------------------------------------------------


def test_stale_temporaries_of_a_killed_writer_are_removed(corpus, tmp_path):
    out = tmp_path / "m"
    train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=1), quiet=True, log=quiet)
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    for name in (f".checkpoint.safetensors.tmp{dead}", f".weights.safetensors.tmp{dead}"):
        (out / name).write_bytes(b"half")
    live = out / f".config.json.tmp{os.getppid()}"  # a live process's: not ours to remove
    live.write_bytes(b"x")
    train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=2), resume=True, quiet=True, log=quiet)
    assert sorted(n for n in os.listdir(out) if n.startswith(".")) == [live.name]


def test_force_over_an_old_run_removes_its_checkpoint_first(corpus, tmp_path, monkeypatch):
    out = tmp_path / "m"
    train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=1), quiet=True, log=quiet)
    old_checkpoint = (out / io.CHECKPOINT).read_bytes()

    def full(*_a, **_k):
        raise WriteError(f"{out / io.CHECKPOINT}: cannot write (No space left on device)")

    from rnnkit.lm.train import state

    monkeypatch.setattr(state, "save", full)  # the disk fills up when the checkpoint is written
    with pytest.raises(WriteError):
        train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=1, hidden=12), force=True, quiet=True,
              log=quiet)
    assert LanguageModel.load(str(out)).model.config()["hidden"] == 12
    assert not (out / io.CHECKPOINT).exists() or (out / io.CHECKPOINT).read_bytes() != old_checkpoint


def test_disk_full_and_read_only_directory_are_one_line(corpus, tmp_path, monkeypatch):
    if os.geteuid() == 0:
        ro = None  # root writes anywhere: the read-only case is simulated below
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        r = _rnnkit("train", str(corpus[0]), "--valid", str(corpus[1]), "--out", str(ro / "m"), "--epochs", "1")
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "cannot" in r.stderr
    real = os.fsync

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    from rnnkit.cli import main

    code = main(["train", str(corpus[0]), "--valid", str(corpus[1]), "--out", str(tmp_path / "full"), "--epochs",
                 "1", "--hidden", "8", "--quiet"])
    monkeypatch.setattr(os, "fsync", real)
    assert code == 1


# --- a crash at every write step of a training run -------------------------------------


def _train_killed_at(step, tr, va, out):
    """`rnnkit train` in a child process that ends itself (os._exit, like kill -9) at write step ``step``.

    Returns its exit status: 70 when it was killed there, 0 when the run had fewer steps.
    """
    r = _rnnkit("train", str(tr), "--valid", str(va), "--out", str(out), *ARGS,
                env={"RNNKIT_TEST_CRASH_AT_WRITE": str(step), "OPENBLAS_NUM_THREADS": "1"})
    assert r.returncode in (0, 70), r.stderr
    return r.returncode


@pytest.mark.slow
def test_kill_at_every_write_step_then_resume_gives_the_uninterrupted_weights(tmp_path):
    tr, va = write_corpus(tmp_path / "train.txt", 60, seed=1), write_corpus(tmp_path / "valid.txt", 10, seed=2)
    ref = tmp_path / "ref"
    assert _train_killed_at(0, tr, va, ref) == 0
    want = _weights(ref)
    step, killed = 0, 0
    while True:
        step += 1
        out = tmp_path / f"k{step}"
        code = _train_killed_at(step, tr, va, out)
        if code == 0:
            break
        assert code == 70, f"crash at write step {step}: exit status {code}"
        killed += 1
        if (out / io.CONFIG).exists():
            LanguageModel.load(str(out))  # the model directory loads: the old generation or the new
        if (out / io.CHECKPOINT).exists():
            train(str(tr), str(va), str(out), None, resume=True, quiet=True, log=quiet)
        else:  # killed before the first checkpoint: nothing to resume, and --resume says so
            with pytest.raises(RnnkitError, match="no checkpoint"):
                train(str(tr), str(va), str(out), None, resume=True, quiet=True, log=quiet)
            from rnnkit.cli import main

            assert main(["train", str(tr), "--valid", str(va), "--out", str(out), "--force", *ARGS]) == 0
        got = _weights(out)
        assert all(np.array_equal(got[k], want[k]) for k in want), f"crash at write step {step}"
        left = [n for n in os.listdir(out) if ".tmp" in n or n.startswith(".prev") or n == ".lock"]
        assert not left, f"crash at write step {step}: {left} left behind"
    assert killed >= 20  # metrics, model (links, three files, removals), checkpoint, in each of two epochs
