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


import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from .._deps import require
from ..errors import InteRankError, InvalidInputError
from .auth import BearerAuth
from .batcher import MicroBatcher, ServiceUnavailable
from .guards import BodyGuard, LoadShedder, RequestContext, estimate_tokens, safe_json_route_class
from .logs import REQUEST_ID
from .metrics import ServeMetrics
from .schemas import Limits, build_schemas, document_echo, document_for_reranker
from .state import ServiceState
from .threads import in_daemon_thread

logger = logging.getLogger(__name__)

DEFAULT_MAX_DOCUMENTS = 1000
DEFAULT_MAX_DOCUMENT_CHARS = 100_000
DEFAULT_MAX_QUERY_CHARS = 10_000
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
#: estimated tokens of scoring one request may ask for (documents x pair length; see estimate_tokens)
DEFAULT_MAX_REQUEST_TOKENS = 131_072
DEFAULT_REQUEST_TIMEOUT = 120.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_QUEUE = 256
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
):
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
        a ``fastapi.FastAPI`` app; ``app.state.batcher`` is the :class:`MicroBatcher`,
        ``app.state.service`` the :class:`ServiceState`, ``app.state.metrics`` the
        :class:`~interank_sdk.serve.metrics.ServeMetrics`.

    Example:
        >>> from interank_sdk import Reranker
        >>> from interank_sdk.serve import create_app
        >>> app = create_app(Reranker("Qwen/Qwen2.5-0.5B-Instruct"), api_keys=["..."])  # doctest: +SKIP
        >>> import uvicorn; uvicorn.run(app, port=8080)  # doctest: +SKIP
    """
    fastapi = require("fastapi", "serve")
    require("pydantic", "serve")
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException

    if (reranker is None) == (loader is None):
        raise InvalidInputError("pass either a reranker or a loader")
    for name, value in (("max_documents", max_documents), ("max_document_chars", max_document_chars),
                        ("max_query_chars", max_query_chars), ("max_body_bytes", max_body_bytes),
                        ("max_request_tokens", max_request_tokens), ("max_queue", max_queue)):
        if value < 1:
            raise InvalidInputError(f"{name} must be >= 1, got {value}")
    for name, seconds in (("request_timeout", request_timeout), ("body_timeout", body_timeout),
                          ("stall_timeout", stall_timeout if stall_timeout is not None else 1.0)):
        if not seconds > 0:
            raise InvalidInputError(f"{name} must be > 0 seconds, got {seconds}")
    limits = Limits(max_documents, max_document_chars, max_query_chars, max_body_bytes, max_request_tokens)
    schemas = build_schemas(limits)
    metrics = ServeMetrics()
    batcher = MicroBatcher(reranker, max_batch_pairs=max_batch_pairs, max_wait_ms=batch_wait_ms,
                           max_queue=max_queue, stall_timeout=stall_timeout or request_timeout, metrics=metrics)
    service = ServiceState(batcher, metrics, model_name)
    metrics.bind(lambda: batcher.queue_depth, lambda: batcher.stalled, service.accepting)

    async def load() -> None:
        start = time.monotonic()
        try:
            loaded = await in_daemon_thread(loader, "interank-load")  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - reported in the log and by /health
            service.status = "failed"
            logger.error("loading the model failed: %s: %s", type(exc).__name__, exc)
            if on_load_failure is not None:
                on_load_failure(exc)
            return
        await batcher.start()
        service.loaded(loaded, time.monotonic() - start)
        logger.info("model %s loaded in %.1f s (strategy %s)", service.served_name, service.load_seconds,
                    service.strategy)

    @asynccontextmanager
    async def lifespan(app: Any):
        loading = None
        if reranker is not None:
            await batcher.start()
            service.loaded(reranker, 0.0)
            logger.info("serving %s (strategy %s)", service.served_name, service.strategy)
        else:
            loading = asyncio.create_task(load(), name="interank-load")
        try:
            yield
        finally:
            service.draining = True
            if loading is not None:
                loading.cancel()
            await batcher.stop()

    bearer_doc = []
    if api_keys:
        from fastapi.security import HTTPBearer

        bearer_doc = [fastapi.Depends(HTTPBearer(auto_error=False, description="an API key of the server"))]
    app = fastapi.FastAPI(
        title="InteRank rerank service",
        description="Cohere, Jina and TEI-compatible reranking with a small language model.",
        lifespan=lifespan,
        default_response_class=_json_response_class(),
    )
    app.router.route_class = safe_json_route_class()
    app.state.batcher, app.state.service, app.state.metrics, app.state.limits = batcher, service, metrics, limits

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
        return HTTPException(status_code=status, detail=message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Any, exc: Any) -> Any:
        errors = []
        for err in exc.errors():
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            loc = list(err.get("loc", ()))
            if err.get("type") == "json_invalid":
                message, loc = str((err.get("ctx") or {}).get("error", message)), ["body"]
            errors.append({"loc": loc, "msg": message, "type": err.get("type")})
        summary = "; ".join(
            f"{where}: {e['msg']}" if (where := ".".join(str(p) for p in e["loc"] if p != "body")) else e["msg"]
            for e in errors)
        return app.router.default_response_class(
            status_code=422, content={"message": summary, "detail": errors, "request_id": REQUEST_ID.get()})

    @app.exception_handler(HTTPException)
    async def _http_error(request: Any, exc: Any) -> Any:
        return app.router.default_response_class(
            status_code=exc.status_code, headers=getattr(exc, "headers", None),
            content={"message": str(exc.detail), "detail": exc.detail, "request_id": REQUEST_ID.get()})

    err = {"model": schemas.ErrorBody}
    rerank_errors = {401: err, 408: err, 413: err, 422: err, 500: err, 503: err, 504: err}

    async def score(request: Any, query: str, documents: list[Any], top_n: int | None) -> Any:
        """Queue one request's documents and wait for its scores (or its deadline, or its client leaving)."""
        refused = service.refusal()
        if refused is not None:
            metrics.dropped.labels(reason=refused.reason).inc()
            raise error(503, str(refused), {"Retry-After": str(refused.retry_after)})
        rr = service.reranker
        texts = [d if isinstance(d, str) else d["text"] for d in documents]
        cost = estimate_tokens(query, texts, getattr(rr, "max_length", None),
                               getattr(rr, "long_documents", "truncate") != "window")
        if cost > max_request_tokens:
            raise error(413, f"this request asks for about {cost} tokens of scoring (documents x tokens, "
                        f"estimated); at most {max_request_tokens} per request: send fewer or shorter documents")
        try:
            future = batcher.enqueue(query, documents, top_n, REQUEST_ID.get())
        except ServiceUnavailable as exc:
            metrics.dropped.labels(reason=exc.reason).inc()
            raise error(503, str(exc), {"Retry-After": str(exc.retry_after)}) from None
        watcher = asyncio.ensure_future(_client_gone(request.receive))
        done, _ = await asyncio.wait({future, watcher}, timeout=request_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        watcher.cancel()
        if future in done:
            try:
                return future.result()
            except InvalidInputError as exc:
                raise error(422, str(exc)) from None
            except ServiceUnavailable as exc:
                raise error(503, str(exc), {"Retry-After": str(exc.retry_after)}) from None
            except InteRankError:
                raise error(503, "the scoring backend failed on this request; the server log has the detail",
                            {"Retry-After": str(batcher.retry_after())}) from None
            except Exception:  # noqa: BLE001 - a bug: the batcher logged the traceback
                raise error(500, "internal error while scoring this request; the server log has the detail") \
                    from None
        future.cancel()
        if watcher in done:
            metrics.dropped.labels(reason="client_disconnected").inc()
            logger.info("client disconnected before its scores were ready; request dropped")
            raise error(499, "client closed the request")
        metrics.dropped.labels(reason="timeout").inc()
        logger.warning("not scored within the request timeout (%g s): 504", request_timeout)
        raise error(504, f"the request was not scored within {request_timeout:g} s",
                    {"Retry-After": str(batcher.retry_after())})

    @app.post("/v1/rerank", summary="Rerank documents (Cohere v1 / Jina)", response_model=schemas.RerankResponse,
              responses=rerank_errors, dependencies=bearer_doc)
    async def rerank(body: schemas.RerankRequest, request: Request) -> Any:
        docs = [document_for_reranker(d, body.rank_fields) for d in body.documents]
        ranked = await score(request, body.query, docs, body.top_n) if docs else []
        results = []
        for r in ranked:
            item: dict[str, Any] = {"index": r.index, "relevance_score": float(r.score)}
            if body.return_documents:
                item["document"] = document_echo(body.documents[r.index])
            results.append(item)
        return app.router.default_response_class({
            "id": str(uuid.uuid4()), "model": service.served_name, "results": results,
            "usage": {"search_units": 1, "documents": len(docs)},
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        })

    app.post("/v2/rerank", summary="Rerank documents (Cohere v2)", response_model=schemas.RerankResponse,
             responses=rerank_errors, dependencies=bearer_doc)(rerank)

    @app.post("/rerank", summary="Rerank texts (Text Embeddings Inference)", response_model=list[schemas.TEIRank],
              responses=rerank_errors, dependencies=bearer_doc)
    async def tei_rerank(body: schemas.TEIRerankRequest, request: Request) -> Any:
        ranked = await score(request, body.query, list(body.texts), None) if body.texts else []
        out = []
        for r in ranked:
            item: dict[str, Any] = {"index": r.index, "score": _raw_score(r) if body.raw_scores else float(r.score)}
            if body.return_text:
                item["text"] = body.texts[r.index]
            out.append(item)
        return app.router.default_response_class(out)

    def health_body(status: str) -> dict[str, Any]:
        return {"status": status, "model": service.served_name, "strategy": service.strategy,
                "backend": service.backend, "ready": service.accepting(), "draining": service.draining,
                "load_seconds": service.load_seconds, "scoring_for_s": batcher.busy_for,
                "queue_depth": batcher.queue_depth, "batcher": batcher.stats.as_dict(), "limits": limits.as_dict()}

    health_responses = {200: {"model": schemas.Health}, 503: {"model": schemas.Health}}

    @app.get("/health", summary="Liveness (never needs a key)", response_model=schemas.Health,
             responses=health_responses)
    async def health() -> Any:
        if service.status == "failed":
            return app.router.default_response_class(health_body("failed"), status_code=503)
        if batcher.stalled:
            return app.router.default_response_class(health_body("stalled"), status_code=503)
        return app.router.default_response_class(health_body("loading" if service.status == "loading" else "ok"))

    @app.get("/ready", summary="Readiness: 200 once the model is loaded and work is accepted",
             response_model=schemas.Health, responses={**health_responses, 401: err}, dependencies=bearer_doc)
    async def ready() -> Any:
        if service.accepting():
            return app.router.default_response_class(health_body("ready"))
        status = ("draining" if service.draining else "stalled" if batcher.stalled
                  else service.status if service.status != "ready" else "loading")
        return app.router.default_response_class(health_body(status), status_code=503, headers={"Retry-After": "5"})

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response, dependencies=bearer_doc,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, 401: err})
    async def prometheus() -> Any:
        body, content_type = metrics.render()
        return Response(content=body, media_type=content_type)

    app.add_middleware(BodyGuard, max_bytes=max_body_bytes, body_timeout=body_timeout)
    app.add_middleware(LoadShedder, paths=RERANK_PATHS, refusal=service.refusal, metrics=metrics)
    app.add_middleware(BearerAuth, keys=list(api_keys), open_paths=["/metrics"] if metrics_public else [])
    app.add_middleware(RequestContext, metrics=metrics)
    return app


async def _client_gone(receive: Callable[[], Any]) -> None:
    """Returns when the client disconnects (the request body has already been read)."""
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return


def _raw_score(result: Any) -> float:
    """TEI's raw score: the model's own ``raw_score`` when the reranker reports one (a classifier's
    logit), else the log-odds of the score (``sigmoid(raw) == score``)."""
    raw = getattr(result, "raw_score", None)
    if isinstance(raw, (int, float)) and math.isfinite(raw):
        return float(raw)
    p = min(max(float(result.score), 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def _json_response_class() -> type:
    """JSON responses that never fail on text: UTF-8 when it encodes, ASCII escapes otherwise (and no NaN)."""
    import json

    from fastapi.responses import JSONResponse

    class SafeJSONResponse(JSONResponse):
        def render(self, content: Any) -> bytes:
            try:
                return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
            except UnicodeEncodeError:
                return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")

    return SafeJSONResponse
