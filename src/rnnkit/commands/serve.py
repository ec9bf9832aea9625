"""`rnnkit serve MODEL_DIR [MODEL_DIR ...] [--ngram FILE.arpa] [--host H] [--port P]`: the models over HTTP.

Loads each model once, binds (127.0.0.1 unless told otherwise), says where it
listens, and serves the JSON API under /v1/ and the page at / until Ctrl-C or
SIGTERM, which stop it cleanly: no new connections, the requests under way
finish (a few seconds at most), exit status 0. See docs/serve.md.
"""

import socket
import sys

from rnnkit.commands import model_options
from rnnkit.errors import RnnkitError, UsageError

NAME = "serve"
HELP = "serve models over HTTP: a JSON API (/v1/) and the article's game as a page (/)"
GRACE_SECONDS = 5  # how long a stop waits for the requests under way (a long stream is cut after it)


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
    model_options.add_arguments(p)


def _imports():
    try:
        import uvicorn

        from rnnkit.serve.app import create_app
    except ModuleNotFoundError as exc:
        raise RnnkitError(f"rnnkit serve needs {exc.name}: pip install 'rnnkit[serve]'") from None
    return uvicorn, create_app


def _bind(host, port):
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from None
    family, _, proto, _, address = infos[0]
    # proto from getaddrinfo (IPPROTO_TCP), not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every answer written in two parts (head, body) waited ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise RnnkitError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(args):
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {args.port}")
    if args.max_in_flight < 1:
        raise UsageError(f"--max-in-flight must be a positive integer, got {args.max_in_flight}")
    uvicorn, create_app = _imports()
    from rnnkit.serve.engine import Engine
    from rnnkit.serve.limits import Limits

    engine = Engine.load(args.models, args.ngram, verify=args.verify)
    app = create_app(engine, Limits(max_in_flight=args.max_in_flight), cors_origins=args.cors_origin)
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"rnnkit serve: {', '.join(f'{e.id} ({e.kind})' for e in engine.models.values())}", flush=True)
    print(f"rnnkit serve: listening on http://{shown}:{port}/ (Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="info" if args.access_log else "warning", access_log=args.access_log,
                            timeout_graceful_shutdown=GRACE_SECONDS, lifespan="on")
    server = _Server(config)
    server.run(sockets=[sock])
    print(f"rnnkit serve: stopped{f' ({server.stopped_by})' if server.stopped_by else ''}", file=sys.stderr)
    return 0


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
