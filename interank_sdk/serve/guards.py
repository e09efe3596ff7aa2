"""What keeps one request or one client from hurting the service: ids, size and time limits, safe JSON.

* :class:`RequestContext` (outermost): a request id in every response header
  and log line, the Prometheus request counters, and a JSON 500 without
  traceback or internals for anything unexpected (the detail goes to the log).
* :class:`LoadShedder`: 503 with ``Retry-After`` before the body is read when
  no work can be accepted (loading, stalled, draining, queue full).
* :class:`BodyGuard`: 413 for a body over the size limit (before it is read in
  full) and 408 for a body that does not arrive within ``body_timeout``
  seconds (a client trickling a partial body cannot hold a request open).
* :class:`SafeJSONRoute`: request bodies are parsed by pydantic-core's JSON
  parser, which refuses nesting deeper than 200 levels, NaN/Infinity and
  strings with unpaired UTF-16 surrogates (``"\\udfff"``): such bodies get a
  422 that says why instead of a 500 when the text is later encoded.
* :func:`guarded_protocol`: uvicorn's HTTP protocol with a header timeout: a
  connection that opens and sends nothing, or only part of a request's
  headers, is closed after ``header_timeout`` seconds (idle keep-alive
  connections are closed by uvicorn's ``timeout_keep_alive``).
* :func:`estimate_tokens`: the per-request scoring budget (documents x tokens).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from .logs import REQUEST_ID, new_request_id

logger = logging.getLogger(__name__)

#: a JSON escape of a UTF-16 surrogate (valid only as a high-low pair)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: tokens added to every pair for the prompt's instructions and chat template (estimate)
PROMPT_OVERHEAD_TOKENS = 32


async def send_json(send: Any, status: int, payload: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Send a complete JSON response on a raw ASGI ``send``."""
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class RequestContext:
    """ASGI middleware: request id, metrics and a safe 500 for every HTTP request.

    The id is the client's ``X-Request-ID`` when it is a short token (letters,
    digits, ``._:-``, at most 64), else a new one; it is sent back in
    ``X-Request-ID`` and set in :data:`~interank_sdk.serve.logs.REQUEST_ID`.
    """

    def __init__(self, app: Any, metrics: Any = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_id = None
        for name, value in scope.get("headers") or []:
            if name == b"x-request-id":
                client_id = value.decode("latin-1")
                break
        request_id = new_request_id(client_id)
        token = REQUEST_ID.set(request_id)
        status: list[int] = []
        start = time.perf_counter()
        if self.metrics is not None:
            self.metrics.in_flight.inc()

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            logger.error("unhandled %s while answering %s %s", type(exc).__name__, scope.get("method"),
                         scope.get("path"), exc_info=exc)
            if not status:
                await send_with_id_safe(send_with_id, 500, {
                    "message": "internal error while answering this request; the server log has the detail "
                               "under this request id",
                    "detail": "internal error", "request_id": request_id})
        finally:
            if self.metrics is not None:
                self.metrics.in_flight.dec()
                self.metrics.observe_request(scope.get("path", ""), scope.get("method", ""),
                                             status[0] if status else 499, time.perf_counter() - start)
            REQUEST_ID.reset(token)


async def send_with_id_safe(send: Any, status: int, payload: dict[str, Any]) -> None:
    """Send an error response, ignoring a client that has already gone."""
    try:
        await send_json(send, status, payload)
    except Exception:  # noqa: BLE001 - nothing more can be done for this connection
        logger.debug("could not send the %d response", status)


class LoadShedder:
    """ASGI middleware: refuse rerank requests with 503 before their body is read when no work is accepted.

    When the model is loading, the backend has stalled, the server drains or
    the queue is full, parsing and validating a body only to refuse it would
    spend the event loop's time where it is shortest; the refusal goes out at
    once, with ``Retry-After`` and ``Connection: close``.

    Args:
        app: the wrapped ASGI app.
        paths: the routes to guard.
        refusal: returns a :class:`~interank_sdk.serve.batcher.ServiceUnavailable` when work is refused, else ``None``.
        metrics: counts the refusals by reason.
    """

    def __init__(self, app: Any, paths: Sequence[str], refusal: Any, metrics: Any = None) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.refusal = refusal
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path") in self.paths:
            refused = self.refusal()
            if refused is not None:
                if self.metrics is not None:
                    self.metrics.dropped.labels(reason=refused.reason).inc()
                await send_json(send, 503, {"message": str(refused), "detail": str(refused),
                                            "request_id": REQUEST_ID.get()},
                                [(b"retry-after", str(refused.retry_after).encode()), (b"connection", b"close")])
                return
        await self.app(scope, receive, send)


class BodyGuard:
    """ASGI middleware: 413 above ``max_bytes``, 408 when the body takes longer than ``body_timeout`` s.

    A declared ``Content-Length`` over the limit is refused before anything is
    read; a streamed (chunked) body is read up to the limit, then refused. The
    whole body is read here (bounded in size and time) and replayed to the app.
    """

    def __init__(self, app: Any, max_bytes: int, body_timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        deadline = None if self.body_timeout is None else time.monotonic() + self.body_timeout
        messages: list[dict] = []
        seen = 0
        while True:
            try:
                if deadline is None:
                    message = await receive()
                else:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                logger.info("request body not complete after %s s (%d bytes read): 408", self.body_timeout, seen)
                await send_json(send, 408, {
                    "message": f"the request body did not arrive within {self.body_timeout:g} s",
                    "detail": "request timeout", "request_id": REQUEST_ID.get()}, [(b"connection", b"close")])
                return
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        await send_json(send, 413, {"message": f"request body larger than {self.max_bytes} bytes",
                                    "detail": f"request body larger than {self.max_bytes} bytes",
                                    "request_id": REQUEST_ID.get()}, [(b"connection", b"close")])


def safe_json_route_class() -> type:
    """A FastAPI ``APIRoute`` whose requests parse JSON with pydantic-core (bounded nesting, valid Unicode)."""
    import pydantic_core
    from fastapi.routing import APIRoute
    from starlette.requests import Request

    class SafeJSONRequest(Request):
        async def json(self) -> Any:
            if not hasattr(self, "_safe_json"):
                body = await self.body()
                try:
                    self._safe_json = pydantic_core.from_json(body, allow_inf_nan=False)
                except ValueError as exc:
                    message = f"invalid JSON: {exc}"
                    if "recursion limit" in message:
                        message += " (JSON nested deeper than about 200 levels is refused)"
                    elif _SURROGATE_ESCAPE.search(body):
                        message += " (strings must be valid Unicode; an unpaired UTF-16 surrogate escape such as " \
                                   "\\udfff is not)"
                    raise json.JSONDecodeError(message, "", 0) from None
            return self._safe_json

    class SafeJSONRoute(APIRoute):
        def get_route_handler(self) -> Any:
            handler = super().get_route_handler()

            async def route_handler(request: Request) -> Any:
                return await handler(SafeJSONRequest(request.scope, request.receive))

            return route_handler

    return SafeJSONRoute


def guarded_protocol(header_timeout: float, base: type | None = None) -> type:
    """uvicorn's HTTP protocol class, closing connections that send no complete request head in time.

    The timer starts when the connection opens and again when a response is
    complete; if by then no new request has started (headers received), the
    connection is closed.
    """
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol as base  # type: ignore[no-redef]

    class HeaderTimeoutProtocol(base):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._interank_arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._interank_arm()

        def connection_lost(self, exc: Exception | None) -> None:
            timer = getattr(self, "_interank_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

        def _interank_arm(self) -> None:
            timer = getattr(self, "_interank_timer", None)
            if timer is not None:
                timer.cancel()
            self._interank_timer = self.loop.call_later(header_timeout, self._interank_deadline, self.cycle)

        def _interank_deadline(self, cycle: Any) -> None:
            if self.transport.is_closing():
                return
            if self.cycle is cycle and (cycle is None or cycle.response_complete):
                logger.info("closing a connection from %s: no complete request head within %g s",
                            (self.client or ("?",))[0], header_timeout)
                self.transport.close()

    HeaderTimeoutProtocol.__name__ = f"HeaderTimeout{base.__name__}"
    return HeaderTimeoutProtocol


def estimate_tokens(query: str, texts: Sequence[str], max_length: int | None, truncates: bool) -> int:
    """Estimated tokens of scoring work for one request: the sum over documents of the pair's length.

    A pair's length is estimated from UTF-8 bytes (one token per 3 bytes: above
    the real count for English, about right for CJK) plus the prompt's
    overhead, and capped at ``max_length`` when the reranker truncates
    documents (with ``long_documents="window"`` every window counts).
    """
    query_tokens = len(query.encode("utf-8", "surrogatepass")) // 3 + 1 + PROMPT_OVERHEAD_TOKENS
    total = 0
    for text in texts:
        pair = query_tokens + len(text.encode("utf-8", "surrogatepass")) // 3 + 1
        total += min(pair, max_length) if (truncates and max_length) else pair
    return total
