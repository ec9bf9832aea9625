"""`rnnkit serve` as a process: it says where it listens, serves, and stops cleanly on SIGTERM and Ctrl-C."""

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install 'rnnkit[serve]'")


def start(*args):
    """(process, base url) of `rnnkit serve ARGS --port 0`, once it says where it listens."""
    p = subprocess.Popen([sys.executable, "-m", "rnnkit.cli", "serve", *args, "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 60
    for line in p.stdout:
        found = re.search(r"listening on (http://\S+/)", line)
        if found:
            return p, found.group(1)
        if time.monotonic() > deadline:
            break
    p.kill()
    raise AssertionError(f"no 'listening on' line; stderr: {p.stderr.read()}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_and_stops_cleanly(served_models, sig):
    p, url = start(served_models["en"], "--ngram", served_models["zh3.arpa"])
    try:
        assert url.startswith("http://127.0.0.1:")  # this machine only, unless told otherwise
        with httpx.Client(base_url=url, timeout=30) as client:
            assert [m["id"] for m in client.get("v1/models").json()["data"]] == ["en", "zh3.arpa"]
            r = client.post("v1/predict", json={"prefix": "the teacher"})
            assert r.status_code == 200 and r.json()["predictions"]
            assert "<html" in client.get("").text
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert f"stopped ({sig.name})" in err and "Traceback" not in err


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def gone(pid, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":  # a zombie: exited, not yet reaped
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


needs_proc = pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
                                reason="needs Linux's /proc/PID/task/PID/children to find the forked processes")


@needs_proc
def test_processes_share_the_port_and_stop_together(served_models):
    p, url = start(served_models["en"], "--processes", "3")
    try:
        forked = children(p.pid)
        assert len(forked) == 2
        # many connections, spread by the kernel over the three processes' sockets: every answer the same
        clients = [httpx.Client(base_url=url, timeout=30) for _ in range(12)]
        answers = {c.post("v1/score", json={"sentences": ["the teacher said"]}).json()["results"][0]["logprob"]
                   for c in clients}
        for c in clients:
            c.close()
        assert len(answers) == 1
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and "stopped (SIGTERM)" in err and "Traceback" not in err, err
    assert all(gone(pid) for pid in forked)


@needs_proc
def test_forked_processes_die_with_the_first(served_models):
    p, url = start(served_models["en"], "--processes", "2")
    forked = children(p.pid)
    p.kill()  # SIGKILL: no clean stop, no chance to stop the others
    p.wait(30)
    assert len(forked) == 1 and gone(forked[0])


def test_a_bad_model_directory_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "rnnkit.cli", "serve", str(tmp_path / "missing"), "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith("rnnkit serve: error: ") and len(r.stderr.strip().splitlines()) == 1
    assert "missing" in r.stderr


@pytest.mark.parametrize("bad", ["0", "65"])
def test_a_bad_process_count_is_a_usage_error(served_models, bad):
    r = subprocess.run([sys.executable, "-m", "rnnkit.cli", "serve", served_models["en"], "--processes", bad],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and f"--processes must be in 1..64, got {bad}" in r.stderr, r.stderr


def test_a_bad_port_is_a_usage_error(served_models):
    r = subprocess.run([sys.executable, "-m", "rnnkit.cli", "serve", served_models["en"], "--port", "70000"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--port" in r.stderr


def test_connections_are_accepted_with_nagle_off():
    # The listening socket was made with proto 0; asyncio then left Nagle's algorithm on for every
    # connection, and each answer (head and body written apart) waited ~40 ms for the client's delayed
    # ACK: GET /health took 44 ms instead of 0.9. Checked on an accepted connection, as the server gets it.
    import asyncio
    import socket

    from rnnkit.commands.serve import _bind

    async def accepted_nodelay():
        listener = _bind("127.0.0.1", 0)
        got = asyncio.get_running_loop().create_future()

        def on_connect(reader, writer):
            got.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        value = await asyncio.wait_for(got, 10)
        writer.close()
        server.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0
