"""The ASGI application of `rnnkit serve`: the JSON API under /v1/ and the page at /.

FastAPI, for the OpenAPI schema it derives from the request and answer types
(served at /openapi.json; schemathesis tests the server against it) and the
validation that turns a capped or malformed field into a 422 with its place.
Every error is JSON in one envelope ({"error": {"code", "type", "message"}}),
and an exception in one request is answered with a 500 of that form while the
server goes on serving.
"""

import asyncio
import json
import logging
import secrets
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.exceptions import HTTPException

from rnnkit import __version__
from rnnkit.errors import RnnkitError
from rnnkit.lm.generate import TextStream
from rnnkit.serve import schemas as S
from rnnkit.serve.batching import ModelWorker
from rnnkit.serve.engine import ModelNotFound
from rnnkit.serve.limits import Gate, Limits, error_body

log = logging.getLogger("rnnkit.serve")

# The page's files, read once from the package: no request names a file.
PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
              "/static/app.css": ("app.css", "text/css; charset=utf-8"),
              "/static/app.js": ("app.js", "text/javascript; charset=utf-8")}
PAGE_HEADERS = {"content-security-policy": "default-src 'self'; img-src 'self' data:",
                "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}

ERRORS = {status: {"model": S.ErrorResponse, "description": text} for status, text in (
    (404, "no such model"), (413, "the body is over the cap"),
    (422, "a field is missing, malformed or over its cap, or the model cannot take this input"),
    (429, "too much work in flight: retry after the Retry-After seconds"), (500, "an internal error"))}


def _error(status, kind, message, details=None, headers=None):
    return Response(error_body(status, kind, message, details), status_code=status,
                    media_type="application/json", headers=headers)


def _page_file(name):
    return (resources.files("rnnkit.serve") / "static" / name).read_bytes()


def create_app(engine, limits=None, cors_origins=()):
    """The application serving ``engine``'s models (rnnkit.serve.engine.Engine)."""
    limits = limits or Limits()
    worker = ModelWorker(limits.max_batch_sentences)
    pages = {path: (_page_file(name), media) for path, (name, media) in PAGE_FILES.items()}

    @asynccontextmanager
    async def lifespan(app):
        yield
        worker.close()

    app = FastAPI(title="rnnkit", version=__version__, lifespan=lifespan,
                  description="RNN language models over HTTP: predict the next word, score sentences, "
                              "re-rank n-best lists, fill blanks, generate text. See docs/serve.md.")
    app.state.engine, app.state.worker, app.state.limits = engine, worker, limits

    # --- errors: always JSON --------------------------------------------------

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                   for e in exc.errors()]
        where = "; ".join(f"{'.'.join(str(x) for x in d['loc'])}: {d['msg']}" for d in details[:3])
        if "json" not in request.headers.get("content-type", ""):
            where = f"send the body as JSON, with content-type: application/json ({where})"
        return _error(422, "invalid_request", where or "invalid request", details)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode: an invalid request like any other
            return _error(422, "invalid_request", f"the body is not JSON in UTF-8 ({exc.detail})")
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, kind, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(ModelNotFound)
    async def no_model(request, exc):
        return _error(404, "model_not_found", str(exc))

    @app.exception_handler(RnnkitError)
    async def bad_input(request, exc):
        return _error(422, "invalid_input", str(exc))

    @app.exception_handler(Exception)
    async def internal(request, exc):
        log.exception("error in %s %s", request.method, request.url.path)
        return _error(500, "internal_error", f"internal error ({type(exc).__name__}); the server goes on serving")

    # --- the page -------------------------------------------------------------

    def page(path):
        body, media = pages[path]
        return Response(body, media_type=media, headers=PAGE_HEADERS)

    for path in PAGE_FILES:
        app.add_api_route(path, partial(page, path), methods=["GET"], include_in_schema=False)

    # --- the API --------------------------------------------------------------

    @app.get("/health", response_model=S.Health, tags=["models"])
    async def health():
        """The server is up; the models it holds."""
        return {"status": "ok", "version": __version__, "models": engine.infos()}

    @app.get("/v1/models", response_model=S.ModelList, tags=["models"], responses=ERRORS)
    async def models():
        """The models loaded: kind, vocabulary size, tokenizer, architecture and training figures."""
        return {"object": "list", "data": engine.infos()}

    @app.post("/v1/predict", response_model=S.PredictResponse, tags=["language model"], responses=ERRORS)
    async def predict(req: S.PredictRequest):
        """The article's game: the most probable next tokens after a prefix (an lm or an ngram model)."""
        entry = engine.pick(req.model, ("lm", "ngram"), "predict")
        r = await worker.run(engine.predict, entry, req.prefix, req.top)
        return {"model": entry.id, "kind": entry.kind, **r}

    @app.post("/v1/score", response_model=S.ScoreResponse, response_model_exclude_none=True,
              tags=["language model"], responses=ERRORS)
    async def score(req: S.ScoreRequest):
        """log10 probability and perplexity of each sentence (as `rnnkit score --json`), and of all together."""
        entry = engine.pick(req.model, ("lm",), "score")
        size = sum(map(len, req.sentences))
        encoded = await _off_loop(size, engine.encode, entry, req.sentences)
        # the model's step alone on the model thread, with the other requests' sentences waiting beside it
        log_probs = await worker.score(entry.id, partial(engine.log_probs, entry), encoded.ids)
        rows = await _off_loop(size if req.per_word else 0, engine.score_rows, encoded, log_probs, req.per_word)
        logprob, tokens = sum(r["logprob"] for r in rows), sum(r["tokens"] for r in rows)
        total = {"sentences": len(rows), "tokens": tokens, "logprob": logprob, "ppl": 10.0 ** (-logprob / tokens)}
        return _json({"model": entry.id, "results": rows, "total": total})

    @app.post("/v1/rescore", response_model=S.RescoreResponse, tags=["language model"], responses=ERRORS)
    async def rescore(req: S.RescoreRequest):
        """Re-rank n-best lists (as `rnnkit score --nbest --json`), optionally with the N-gram mixed in."""
        if sum(len(u.candidates) for u in req.nbest) > S.L.MAX_NBEST_CANDIDATES:
            raise RnnkitError(f"more than {S.L.MAX_NBEST_CANDIDATES} candidates in one request")
        entry = engine.pick(req.model, ("lm",), "rescore")
        nbest = [u.model_dump() for u in req.nbest]
        if req.mix:  # the N-gram side has no batch: the whole of it on the model thread
            results = await worker.run(engine.rescore_mixed, entry, nbest, req.lm_weight, req.am_weight,
                                       req.mix.model_dump(by_alias=True))
            return {"model": entry.id, "results": results}
        size = sum(len(c.text) for u in req.nbest for c in u.candidates)
        entries, encoded = await _off_loop(size, engine.nbest_entries, entry, nbest)
        # the candidates are sentences to score: batched with the score requests of the same model
        log_probs = await worker.score(entry.id, partial(engine.log_probs, entry), encoded.ids)
        results = engine.ranked(entries, encoded, log_probs, req.lm_weight, req.am_weight)
        return _json({"model": entry.id, "results": results})

    @app.post("/v1/fill", response_model=S.FillResponse, response_model_exclude_none=True,
              tags=["cloze model"], responses=ERRORS)
    async def fill(req: S.FillRequest):
        """Fill the blank (__ one token, __N__ N tokens) with a cloze model (as `rnnkit fill --json`)."""
        entry = engine.pick(req.model, ("cloze",), "fill")
        r = await worker.run(engine.fill, entry, req.text, req.top, req.beam)
        return {"model": entry.id, **r}

    stream_doc = {200: {"content": {"text/event-stream": {"schema": {"type": "object"}}},  # each event: JSON
                        "description": "JSON, or with stream: server-sent events"}}

    @app.post("/v1/generate", response_model=S.GenerateResponse, tags=["language model"],
              responses={**ERRORS, **stream_doc})
    async def generate(req: S.GenerateRequest):
        """Sample text (as `rnnkit generate --seed S`); with stream, one server-sent event per token."""
        entry = engine.pick(req.model, ("lm",), "generate")
        seed = req.seed if req.seed is not None else secrets.randbelow(2**32)
        # a bad setting or prefix fails here, before any model work: a JSON error, not an event
        sampler = engine.sampler(entry, req.prefix, req.max_tokens, req.temperature, req.top_k, req.top_p, seed)
        if not req.stream:
            while await worker.run(sampler.step) is not None:
                pass  # one job per token: requests that came meanwhile run between two tokens
            g = sampler.result()
            return {"model": entry.id, "generated_text": str(g), "tokens": list(g.tokens), "seed": seed}
        return StreamingResponse(_events(entry, seed, sampler, worker), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["content-type"])
    app.add_middleware(Gate, limits=limits)
    return app


# Text work of a request (cutting sentences, making rows) runs on the event loop when it is
# small, which costs nothing more; above this many characters it goes to a helper thread,
# so that a request of 256 long sentences (jieba is slow) cannot hold up the others.
OFF_LOOP_CHARS = 20_000


async def _off_loop(size, fn, *args):
    if size <= OFF_LOOP_CHARS:
        return fn(*args)
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _json(body):
    """``body`` as the JSON answer, written here: a score answer is plain lists and numbers, and
    the response model's checking and encoding of it cost more than the rest of the event loop's
    work. A non-finite number (which JSON cannot hold) goes the response model's way: null."""
    try:
        return Response(json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")),
                        media_type="application/json")
    except ValueError:
        return body


def _sse(data):
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode("utf-8")


async def _events(entry, seed, sampler, worker):
    """One event per sampled token ({"index", "token", "text": so far, "generated_text": null}), then the whole text.

    Each token is one job on the model thread (``sampler.step``), so the
    requests that arrive meanwhile run between two tokens instead of after the
    whole text; a client that goes away stops the generation at its next token.
    The prefix's tokens start the text but are no events.
    """
    pieces = []
    text = TextStream(entry.model.tokenizer, pieces.append)
    for token in sampler.prefix_tokens:
        text(token)
    n = 0
    try:
        while (token := await worker.run(sampler.step)) is not None:
            text(token)
            yield _sse({"index": n, "token": {"text": token, "special": token == "<eos>"},
                        "text": "".join(pieces), "generated_text": None})
            n += 1
        whole = str(sampler.result())
    except Exception as exc:  # the answer has begun: the error is the last event
        log.exception("error while streaming from %s", entry.id)
        message = str(exc) if isinstance(exc, RnnkitError) else f"internal error ({type(exc).__name__})"
        yield b"event: error\n" + _sse({"error": {"code": 500, "type": "internal_error", "message": message}})
        return
    yield _sse({"index": n, "token": None, "text": whole, "generated_text": whole,
                "details": {"finish_reason": "length", "generated_tokens": n, "seed": seed, "model": entry.id}})
