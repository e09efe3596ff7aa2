"""The HTTP rerank service: a FastAPI app with a Cohere/Jina-compatible ``POST /v1/rerank``.

Request (JSON)::

    {"model": "optional, informative only",
     "query": "how do plants make food?",
     "documents": ["text", {"text": "...", "title": "...", "id": "d7", "metadata": {...}}],
     "top_n": 3,
     "return_documents": true}

Response (Cohere's v2 shape, plus Jina's ``model`` and ``usage``)::

    {"id": "...", "model": "...",
     "results": [{"index": 1, "relevance_score": 0.93, "document": {"text": "..."}}],
     "usage": {"search_units": 1, "documents": 2},
     "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}

``GET /health`` answers ``{"status": "ok", ...}`` with the batcher's counters.
Malformed requests get 422 with a message naming the field; a body larger
than ``max_body_bytes`` gets 413 before it is read in full. Concurrent
requests are scored together by a :class:`~interank_sdk.serve.batcher.MicroBatcher`.
"""

import json
import logging
import uuid
from contextlib import asynccontextmanager
from typing import Any, Union

from .._deps import require
from ..errors import InteRankError, InvalidInputError
from .batcher import MicroBatcher

logger = logging.getLogger(__name__)

DEFAULT_MAX_DOCUMENTS = 1000
DEFAULT_MAX_DOCUMENT_CHARS = 100_000
DEFAULT_MAX_QUERY_CHARS = 10_000
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


class BodySizeLimit:
    """ASGI middleware: answer 413 to a request body over ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before anything is
    read; a streamed (chunked) body is read up to the limit, then refused.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        messages: list[dict] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._reject(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(
    reranker: Any,
    *,
    model_name: str | None = None,
    max_documents: int = DEFAULT_MAX_DOCUMENTS,
    max_document_chars: int = DEFAULT_MAX_DOCUMENT_CHARS,
    max_query_chars: int = DEFAULT_MAX_QUERY_CHARS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch_pairs: int = 256,
    batch_wait_ms: float = 0.0,
):
    """Build the FastAPI app serving ``reranker``.

    Args:
        reranker: a ready :class:`~interank_sdk.Reranker`.
        model_name: name reported in responses (default: the reranker's model).
        max_documents: documents allowed in one request (422 above).
        max_document_chars: characters allowed in one document (422 above).
        max_query_chars: characters allowed in the query (422 above).
        max_body_bytes: request body size limit (413 above).
        max_batch_pairs: query-document pairs merged into one batch.
        batch_wait_ms: how long the first request of a batch waits for company. The default 0
            adds no latency: requests that arrive while a batch is being scored form the next
            batch, so batches grow with the load on their own.

    Returns:
        a ``fastapi.FastAPI`` app; ``app.state.batcher`` is the
        :class:`MicroBatcher` (its ``stats`` show the batching).

    Example:
        >>> from interank_sdk import Reranker
        >>> from interank_sdk.serve import create_app
        >>> app = create_app(Reranker("Qwen/Qwen2.5-0.5B-Instruct"))  # doctest: +SKIP
        >>> import uvicorn; uvicorn.run(app, port=8080)  # doctest: +SKIP
    """
    fastapi = require("fastapi", "serve")
    pydantic = require("pydantic", "serve")
    from fastapi import HTTPException
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, field_validator

    for name, value in (("max_documents", max_documents), ("max_document_chars", max_document_chars),
                        ("max_query_chars", max_query_chars), ("max_body_bytes", max_body_bytes)):
        if value < 1:
            raise InvalidInputError(f"{name} must be >= 1, got {value}")
    served_name = model_name or getattr(reranker, "model_name", "interank")
    del pydantic

    class DocumentIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str = Field(description="the passage text")
        title: str | None = None
        id: Union[str, int, None] = None
        metadata: dict[str, Any] | None = None

    class RerankRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        model: str | None = Field(None, description="informative; the served model always answers")
        query: str = Field(description="the search query")
        documents: list[Union[str, DocumentIn]] = Field(description="strings or objects with 'text'")
        top_n: int | None = Field(None, ge=1, description="return only the best top_n results")
        return_documents: bool = Field(False, description="include each document in its result")
        # accepted for Cohere client compatibility; documents are fitted to the model's budget anyway
        max_tokens_per_doc: int | None = Field(None, ge=1)
        max_chunks_per_doc: int | None = Field(None, ge=1)
        rank_fields: list[str] | None = None

        @field_validator("query")
        @classmethod
        def _query(cls, value: str) -> str:
            if not value.strip():
                raise ValueError("query is empty")
            if len(value) > max_query_chars:
                raise ValueError(f"query is longer than {max_query_chars} characters")
            return value

        @field_validator("documents")
        @classmethod
        def _documents(cls, value: list) -> list:
            if len(value) > max_documents:
                raise ValueError(f"{len(value)} documents; at most {max_documents} per request")
            for i, doc in enumerate(value):
                text = doc if isinstance(doc, str) else doc.text
                if not text.strip():
                    raise ValueError(f"documents[{i}] has an empty text")
                if len(text) > max_document_chars:
                    raise ValueError(f"documents[{i}] is longer than {max_document_chars} characters")
            return value

    batcher = MicroBatcher(reranker, max_batch_pairs=max_batch_pairs, max_wait_ms=batch_wait_ms)

    @asynccontextmanager
    async def lifespan(app: Any):
        await batcher.start()
        logger.info("serving %s (strategy %s)", served_name, getattr(reranker.strategy, "name", "?"))
        try:
            yield
        finally:
            await batcher.stop()

    app = fastapi.FastAPI(
        title="InteRank rerank service",
        description="Cohere/Jina-compatible reranking with a small language model.",
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    app.state.reranker = reranker
    app.state.limits = {"max_documents": max_documents, "max_document_chars": max_document_chars,
                        "max_query_chars": max_query_chars, "max_body_bytes": max_body_bytes}

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Any, exc: Any) -> Any:
        errors = []
        for err in exc.errors():
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            errors.append({"loc": list(err.get("loc", ())), "msg": message, "type": err.get("type")})
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
                            for e in errors)
        return JSONResponse(status_code=422, content={"detail": errors, "message": summary})

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok" if batcher.running else "starting",
            "model": served_name,
            "strategy": getattr(reranker.strategy, "name", None),
            "backend": getattr(reranker.backend, "name", None),
            "batcher": batcher.stats.as_dict(),
            "limits": app.state.limits,
        }

    async def rerank(body: RerankRequest) -> dict[str, Any]:
        docs: list[Any] = []
        for doc in body.documents:
            if isinstance(doc, str):
                docs.append(doc)
            else:
                docs.append({"text": doc.text, "title": doc.title, "id": doc.id, "metadata": doc.metadata})
        if not docs:
            results = []
        else:
            try:
                ranked = await batcher.submit(body.query, docs, body.top_n)
            except InvalidInputError as exc:
                raise HTTPException(status_code=422, detail=str(exc)) from exc
            except InteRankError as exc:
                logger.error("rerank failed: %s", exc)
                raise HTTPException(status_code=503, detail=f"the reranker failed: {exc}") from exc
            results = []
            for r in ranked:
                item: dict[str, Any] = {"index": r.index, "relevance_score": r.score}
                if body.return_documents:
                    d = r.document
                    document: dict[str, Any] = {"text": d.text}
                    if d.title is not None:
                        document["title"] = d.title
                    if d.id is not None:
                        document["id"] = d.id
                    if d.metadata:
                        document["metadata"] = d.metadata
                    item["document"] = document
                results.append(item)
        return {
            "id": str(uuid.uuid4()),
            "model": served_name,
            "results": results,
            "usage": {"search_units": 1, "documents": len(docs)},
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        }

    app.post("/v1/rerank", summary="Rerank documents (Cohere/Jina compatible)")(rerank)
    app.post("/v2/rerank", summary="Rerank documents (Cohere v2 path)")(rerank)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    return app


class BackgroundServer:
    """Run an ASGI app with uvicorn in a daemon thread (tests, benchmarks, notebooks).

    The socket is bound before the thread starts (``port=0`` picks a free
    port), so the URL is valid as soon as the context is entered.

    Example:
        >>> with BackgroundServer(app) as url:  # doctest: +SKIP
        ...     httpx.post(f"{url}/v1/rerank", json={...})
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        import socket
        import threading

        uvicorn = require("uvicorn", "serve")
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def start(self, timeout: float = 60.0) -> str:
        """Start serving; returns the base URL once the server accepts connections."""
        import time

        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread exited during start-up (see the log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.02)
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
