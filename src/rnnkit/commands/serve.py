"""`rnnkit serve MODEL_DIR [MODEL_DIR ...] [--ngram FILE.arpa] [--host H] [--port P]`: the models over HTTP.

Loads each model once, binds (127.0.0.1 unless told otherwise), says where it
listens, and serves the JSON API under /v1/ and the page at / until Ctrl-C or
SIGTERM, which stop it cleanly: no new connections, the requests under way
finish (a few seconds at most), exit status 0. See docs/serve.md.

``--processes N`` serves from N processes that share the listening socket: the
first loads the models and binds, then forks the others, which share its
memory until they write. One process is held to about one core however many
it has, because its event loop and its model thread are both Python and take
turns holding the interpreter's lock; N processes take N cores. Each batches
the requests that reach it.
"""

import os
import signal
import socket
import sys
import time

from rnnkit.commands import model_options
from rnnkit.errors import RnnkitError, UsageError

NAME = "serve"
HELP = "serve models over HTTP: a JSON API (/v1/) and the article's game as a page (/)"
GRACE_SECONDS = 5  # how long a stop waits for the requests under way (a long stream is cut after it)
MAX_PROCESSES = 64  # --processes


def add_arguments(p):
    p.add_argument("models", metavar="MODEL_DIR", nargs="+", help="model directories (language or cloze models)")
    p.add_argument("--ngram", metavar="FILE.arpa", help="an N-gram model too: shown beside the RNN, and for mixing")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0: any free port)")
    p.add_argument("--max-in-flight", type=int, default=64, metavar="N",
                   help="requests under way at once; more get 429 with Retry-After (default: 64)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="let pages from ORIGIN call the API (repeatable; default: none, CORS off)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--processes", type=int, default=1, metavar="N",
                   help="serve from N processes sharing the port, for N cores (default: 1; each has its own "
                        "--max-in-flight)")
    model_options.add_arguments(p)


def _imports():
    try:
        import uvicorn

        from rnnkit.serve.app import create_app
    except ModuleNotFoundError as exc:
        raise RnnkitError(f"rnnkit serve needs {exc.name}: pip install 'rnnkit[serve]'") from None
    return uvicorn, create_app


def _bind(host, port, share_port=False):
    """The listening socket. ``share_port``: with SO_REUSEPORT, so that forked processes can each bind
    one of their own to the same port (``_rebind``), and the kernel spreads the connections over them
    evenly (32 connections to 2 processes: 17/15, 16/16, 16/16); on one shared socket, whichever process
    woke first took most of them (1/31, 31/1, 11/21)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from None
    family, _, proto, _, address = infos[0]
    try:
        sock = _listening(family, proto, address, share_port)
    except OSError as exc:
        raise RnnkitError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _listening(family, proto, address, share_port):
    """A TCP socket listening on ``address`` (closed again if it cannot bind)."""
    # proto from getaddrinfo (IPPROTO_TCP), not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every answer written in two parts (head, body) waited ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share_port and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def _rebind(sock):
    """A forked process's own socket on the port of ``sock`` (bound with share_port), which it closes;
    ``sock`` itself where the system has no SO_REUSEPORT."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return sock
    own = _listening(sock.family, sock.proto, sock.getsockname(), share_port=True)
    sock.close()
    return own


def run(args):
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {args.port}")
    if args.max_in_flight < 1:
        raise UsageError(f"--max-in-flight must be a positive integer, got {args.max_in_flight}")
    if not 1 <= args.processes <= MAX_PROCESSES:
        raise UsageError(f"--processes must be in 1..{MAX_PROCESSES}, got {args.processes}")
    if args.processes > 1 and not hasattr(os, "fork"):
        raise UsageError("--processes above 1 needs os.fork, which this system does not have")
    uvicorn, create_app = _imports()
    from rnnkit.serve.engine import Engine
    from rnnkit.serve.limits import Limits

    engine = Engine.load(args.models, args.ngram, verify=args.verify)
    sock = _bind(args.host, args.port, share_port=args.processes > 1)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"rnnkit serve: {', '.join(f'{e.id} ({e.kind})' for e in engine.models.values())}", flush=True)
    children = _fork(args.processes - 1)
    if children is None:
        sock = _rebind(sock)
    processes = f", {args.processes} processes" if args.processes > 1 else ""
    if children is not None:
        print(f"rnnkit serve: listening on http://{shown}:{port}/ (Ctrl-C to stop{processes})", flush=True)
    if args.processes > 1:
        _hold_blas_threads(args.processes)
    app = create_app(engine, Limits(max_in_flight=args.max_in_flight), cors_origins=args.cors_origin)
    config = uvicorn.Config(app, log_level="info" if args.access_log else "warning", access_log=args.access_log,
                            timeout_graceful_shutdown=GRACE_SECONDS, lifespan="on")
    server = _Server(config)
    server.run(sockets=[sock])
    if children is None:  # a forked process: its work ends here, not in the command's caller
        sys.stdout.flush()
        os._exit(0)
    _stop_children(children)
    print(f"rnnkit serve: stopped{f' ({server.stopped_by})' if server.stopped_by else ''}", file=sys.stderr)
    return 0


def _fork(n):
    """Fork n serving processes: their pids in the first process, None in each forked one. Nothing
    runs in a thread yet (the model thread starts with the first request), so fork copies no lock
    held by another thread."""
    children, first = [], os.getpid()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            _die_with(first)
            return None
        children.append(pid)
    return children


def _die_with(first):
    """A forked process gets SIGTERM when the first one dies, however it dies (Linux; elsewhere the
    first one's clean stop still stops it)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != first:  # it died before prctl took effect
        os._exit(0)


def _hold_blas_threads(processes):
    """Each of N processes computes with its share of the cores, not all of them each. (Left to choose,
    two processes of two threads each on 2 cores served 32 clients 20% slower, and one client no faster.)"""
    from threadpoolctl import threadpool_limits

    threadpool_limits(max(1, (os.cpu_count() or 1) // processes))


def _stop_children(children):
    """SIGTERM to the forked processes still running (Ctrl-C in a terminal reached them already), and
    wait for them: as long as a clean stop takes, then SIGKILL."""
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + GRACE_SECONDS + 5
    waiting = set(children)
    while waiting:
        for pid in list(waiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                waiting.discard(pid)
        if waiting and time.monotonic() > deadline:
            for pid in waiting:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            break
        time.sleep(0.05)


def _server_class():
    import contextlib
    import signal
    import threading

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopping cleanly on SIGINT and SIGTERM and returning (exit 0) instead of re-raising."""

        stopped_by = None

        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)

        def _stop(self, sig, frame):
            self.stopped_by = signal.Signals(sig).name
            self.handle_exit(sig, frame)

    return Server


def _Server(config):
    return _server_class()(config)
