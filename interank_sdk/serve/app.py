"""The HTTP rerank service: a FastAPI app with Cohere, Jina and TEI-compatible rerank routes.

Routes (all but ``/health`` need ``Authorization: Bearer <key>`` when keys are configured):

* ``POST /v1/rerank``, ``POST /v2/rerank``: Cohere v1/v2 and Jina requests; the
  response follows Cohere's shape (``id``, ``results[].index``,
  ``results[].relevance_score``, ``results[].document``, ``meta``) plus Jina's
  ``model`` and ``usage``;
* ``POST /rerank``: TEI's request and response (``[{"index", "score", "text"}]``);
* ``GET /health``: liveness, never behind a key: 200 while the process works
  (``ok`` or ``loading``), 503 when a scoring call has stalled or loading failed;
* ``GET /ready``: readiness: 200 only when the model is loaded, nothing stalled
  and the server is not draining for shutdown;
* ``GET /metrics``: Prometheus metrics (behind the key unless ``metrics_public``).

Status codes: 401 (key), 408 (body too slow), 413 (body or scoring budget too
large), 422 (invalid request, naming the field), 500 (a bug: generic message),
503 with ``Retry-After`` (loading, queue full, stalled or failing backend),
504 (not scored within ``request_timeout``). Error bodies are
``{"message", "detail", "request_id"}`` and never carry internal URLs, paths or
tracebacks; the server log has the detail under the same request id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._deps import require

require("fastapi", "serve")
require("pydantic", "serve")

from fastapi import Depends, FastAPI  # noqa: E402 - after the check that says how to install them
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.security import HTTPBearer  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

from ..errors import InvalidInputError  # noqa: E402
from .auth import BearerAuth  # noqa: E402
from .guards import BodyGuard, LoadShedder, RequestContext  # noqa: E402
from .limits import (  # noqa: E402
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_DOCUMENT_CHARS,
    DEFAULT_MAX_DOCUMENTS,
    DEFAULT_MAX_QUERY_CHARS,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_REQUEST_TOKENS,
    DEFAULT_REQUEST_TIMEOUT,
    Limits,
)
from .protocol import openapi_with_limits  # noqa: E402
from .responses import SafeJSONResponse, http_exception, validation_error  # noqa: E402
from .routes import health, metrics, rerank  # noqa: E402
from .service import RerankService  # noqa: E402

RERANK_PATHS = ("/v1/rerank", "/v2/rerank", "/rerank")


def create_app(
    reranker: Any = None,
    *,
    loader: Callable[[], Any] | None = None,
    model_name: str | None = None,
    api_keys: Sequence[str] = (),
    metrics_public: bool = False,
    max_documents: int = DEFAULT_MAX_DOCUMENTS,
    max_document_chars: int = DEFAULT_MAX_DOCUMENT_CHARS,
    max_query_chars: int = DEFAULT_MAX_QUERY_CHARS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_request_tokens: int = DEFAULT_MAX_REQUEST_TOKENS,
    max_batch_pairs: int = 256,
    batch_wait_ms: float = 0.0,
    max_queue: int = DEFAULT_MAX_QUEUE,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    stall_timeout: float | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    on_load_failure: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    """Build the FastAPI app serving ``reranker`` (or the one ``loader`` returns).

    Args:
        reranker: a ready :class:`~interank_sdk.Reranker`, or any object with
            ``rerank_batch(queries, documents_per_query)`` returning results with
            ``.index``, ``.score``, ``.document``.
        loader: instead of ``reranker``: a callable that builds it, run in a
            thread at startup so that ``/health`` answers (``loading``) and
            ``/ready`` says 503 while the model loads.
        model_name: name reported in responses (default: the reranker's model,
            the last path component for a local folder).
        api_keys: Bearer keys; empty means no authentication (see :mod:`.auth`).
        metrics_public: serve ``/metrics`` without a key.
        max_documents, max_document_chars, max_query_chars: per-request limits (422 above).
        max_body_bytes: request body size limit (413 above, before it is read in full).
        max_request_tokens: estimated scoring work one request may ask for,
            documents x pair tokens (413 above; see :func:`.guards.estimate_tokens`).
        max_batch_pairs: query-document pairs merged into one batch.
        batch_wait_ms: how long the first request of a batch waits for company (default 0: requests
            that arrive while a batch is scored form the next batch, so batches grow with the load).
        max_queue: requests waiting for a batch before new ones get 503 with ``Retry-After``.
        request_timeout: seconds a request may wait for its scores (504 after).
        stall_timeout: seconds a scoring call may run before ``/health`` reports the
            backend stalled and new requests get 503 (default: ``request_timeout``).
        body_timeout: seconds a request body may take to arrive (408 after).
        on_load_failure: called with the exception when ``loader`` fails (the CLI exits).

    Returns:
        a ``fastapi.FastAPI`` app; ``app.state.rerank_service`` is its
        :class:`~interank_sdk.serve.service.RerankService`, ``app.state.batcher`` the
        :class:`~interank_sdk.serve.batcher.MicroBatcher`, ``app.state.service`` the
        :class:`~interank_sdk.serve.state.ServiceState`, ``app.state.metrics`` the
        :class:`~interank_sdk.serve.metrics.ServeMetrics`, ``app.state.limits`` the
        :class:`~interank_sdk.serve.limits.Limits`.

    Raises:
        InvalidInputError: both or neither of ``reranker`` and ``loader``, a limit below 1 or a
            timeout not above 0 seconds.

    Example:
        >>> from interank_sdk import Reranker
        >>> from interank_sdk.serve import create_app
        >>> app = create_app(Reranker("Qwen/Qwen2.5-0.5B-Instruct"), api_keys=["..."])  # doctest: +SKIP
        >>> import uvicorn; uvicorn.run(app, port=8080)  # doctest: +SKIP
    """
    limits = Limits(max_documents, max_document_chars, max_query_chars, max_body_bytes, max_request_tokens)
    if max_queue < 1:
        raise InvalidInputError(f"max_queue must be >= 1, got {max_queue}")
    for name, seconds in (("request_timeout", request_timeout), ("body_timeout", body_timeout),
                          ("stall_timeout", stall_timeout if stall_timeout is not None else 1.0)):
        if not seconds > 0:
            raise InvalidInputError(f"{name} must be > 0 seconds, got {seconds}")
    service = RerankService(reranker, loader=loader, limits=limits, model_name=model_name,
                            max_batch_pairs=max_batch_pairs, batch_wait_ms=batch_wait_ms, max_queue=max_queue,
                            request_timeout=request_timeout, stall_timeout=stall_timeout or request_timeout,
                            on_load_failure=on_load_failure)
    app = FastAPI(
        title="InteRank rerank service",
        description="Cohere, Jina and TEI-compatible reranking with a small language model.",
        lifespan=service.lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.rerank_service, app.state.limits = service, limits
    app.state.batcher, app.state.service, app.state.metrics = service.batcher, service.state, service.metrics
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_exception)  # type: ignore[arg-type]

    keyed = [Depends(HTTPBearer(auto_error=False, description="an API key of the server"))] if api_keys else []
    app.include_router(rerank.router, dependencies=keyed)
    app.include_router(health.open_router)
    app.include_router(health.router, dependencies=keyed)
    app.include_router(metrics.router, dependencies=keyed)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_with_limits(FastAPI.openapi(app), limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyGuard, max_bytes=max_body_bytes, body_timeout=body_timeout)
    app.add_middleware(LoadShedder, paths=RERANK_PATHS, refusal=service.state.refusal, metrics=service.metrics)
    app.add_middleware(BearerAuth, keys=list(api_keys), open_paths=["/metrics"] if metrics_public else [])
    app.add_middleware(RequestContext, metrics=service.metrics)
    return app
