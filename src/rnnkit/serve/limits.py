"""The server's caps, and the gate that bounds the work in flight.

A capped field (prefix length, sentences per request, n-best size, max
tokens) is refused by its schema with 422; a body over ``max_body_bytes`` is
refused with 413 before it is parsed; a request that finds ``max_in_flight``
others under way gets 429 with Retry-After at once, instead of waiting in a
queue without end. Both answers are JSON, like every other error.
"""

import json
from dataclasses import dataclass

# Field caps: fixed, so the OpenAPI schema states them (schemas.py uses them).
MAX_PREFIX_CHARS = 2000
MAX_SENTENCE_CHARS = 2000
MAX_SENTENCES = 256  # per score request
MAX_NBEST_CANDIDATES = 1000  # per rescore request, all utterances together
MAX_TOP = 100
MAX_BEAM = 50
MAX_TOKENS = 1000  # per generation
MAX_TEMPERATURE = 100.0
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class Limits:
    """What one server accepts at once; the command's --max-in-flight sets the second."""

    max_body_bytes: int = 1 << 20
    max_in_flight: int = 64
    retry_after_seconds: int = 1
    # sentences run together in one forward pass at most (a speed knob, not a cap on requests)
    max_batch_sentences: int = 1024


def error_body(status, kind, message, details=None):
    """The JSON of every error: {"error": {"code", "type", "message"[, "details"]}} (OpenAI's envelope)."""
    error = {"code": status, "type": kind, "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}, ensure_ascii=False).encode("utf-8")


async def _send_error(send, status, kind, message, headers=()):
    body = error_body(status, kind, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """ASGI middleware on /v1/: bodies up to max_body_bytes (else 413), at most max_in_flight requests (else 429).

    A streamed answer holds its place until its last event is sent. The body is
    read here, whole, and handed on: a JSON request is small once capped.
    """

    def __init__(self, app, limits):
        self.app, self.limits = app, limits
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limits.max_in_flight:
            wait = str(self.limits.retry_after_seconds).encode()
            return await _send_error(send, 429, "overloaded",
                                     f"the server has {self.in_flight} requests in flight; try again shortly",
                                     [(b"retry-after", wait)])
        self.in_flight += 1
        try:
            body = await self._read_body(scope, receive, send)
            if body is None:
                return
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: wait for the disconnect, as the server would say it

            await self.app(scope, replay, send)
        finally:
            self.in_flight -= 1

    async def _read_body(self, scope, receive, send):
        cap = self.limits.max_body_bytes
        too_big = f"the request body is over {cap} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > cap:
                await _send_error(send, 413, "too_large", too_big)
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                await _send_error(send, 413, "too_large", too_big)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
