"""The scoring service behind the routes: load the model, queue requests for the batcher, shape the answers."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from ..errors import InteRankError, InvalidInputError
from ..types import RankedDocument, RerankResult
from .batcher import MicroBatcher, ServiceUnavailable
from .guards import estimate_tokens
from .limits import Limits
from .logs import REQUEST_ID
from .metrics import ServeMetrics
from .protocol import RerankRequest, TEIRerankRequest, document_echo, document_for_reranker
from .responses import http_error
from .state import ServiceState
from .threads import in_daemon_thread

logger = logging.getLogger(__name__)

#: an ASGI ``receive`` callable
Receive = Callable[[], Awaitable[Any]]


class RerankService:
    """One app's scoring service: the reranker (or its loader), the batcher, the limits, metrics and state.

    Args:
        reranker: a ready reranker (``rerank_batch(queries, documents_per_query)``), or ``None`` with ``loader``.
        loader: builds the reranker in a thread at startup (``/health`` says ``loading`` meanwhile).
        limits: the per-request limits.
        model_name: name reported in responses (default: from the reranker).
        max_batch_pairs, batch_wait_ms, max_queue, stall_timeout: the :class:`MicroBatcher`'s settings.
        request_timeout: seconds a request may wait for its scores (504 after).
        on_load_failure: called with the exception when ``loader`` fails.

    Raises:
        InvalidInputError: both or neither of ``reranker`` and ``loader``.
    """

    def __init__(self, reranker: Any = None, *, loader: Callable[[], Any] | None = None, limits: Limits,
                 model_name: str | None = None, max_batch_pairs: int = 256, batch_wait_ms: float = 0.0,
                 max_queue: int, request_timeout: float, stall_timeout: float,
                 on_load_failure: Callable[[BaseException], None] | None = None) -> None:
        if (reranker is None) == (loader is None):
            raise InvalidInputError("pass either a reranker or a loader")
        self._reranker, self._loader, self._on_load_failure = reranker, loader, on_load_failure
        self.limits = limits
        self.request_timeout = request_timeout
        self.metrics = ServeMetrics()
        self.batcher = MicroBatcher(reranker, max_batch_pairs=max_batch_pairs, max_wait_ms=batch_wait_ms,
                                    max_queue=max_queue, stall_timeout=stall_timeout, metrics=self.metrics)
        self.state = ServiceState(self.batcher, self.metrics, model_name)
        self.metrics.bind(lambda: self.batcher.queue_depth, lambda: self.batcher.stalled, self.state.accepting)

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """The app's lifespan: start serving (or loading) at startup, drain and stop the batcher at shutdown."""
        loading = None
        if self._reranker is not None:
            await self.batcher.start()
            self.state.loaded(self._reranker, 0.0)
            logger.info("serving %s (strategy %s)", self.state.served_name, self.state.strategy)
        else:
            loading = asyncio.create_task(self._load(), name="interank-load")
        try:
            yield
        finally:
            self.state.draining = True
            if loading is not None:
                loading.cancel()
            await self.batcher.stop()

    async def _load(self) -> None:
        start = time.monotonic()
        try:
            loaded = await in_daemon_thread(self._loader, "interank-load")  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - reported in the log and by /health
            self.state.status = "failed"
            logger.error("loading the model failed: %s: %s", type(exc).__name__, exc)
            if self._on_load_failure is not None:
                self._on_load_failure(exc)
            return
        await self.batcher.start()
        self.state.loaded(loaded, time.monotonic() - start)
        logger.info("model %s loaded in %.1f s (strategy %s)", self.state.served_name, self.state.load_seconds,
                    self.state.strategy)

    async def rerank(self, body: RerankRequest, receive: Receive) -> dict[str, Any]:
        """A Cohere/Jina rerank request's response body."""
        docs = [document_for_reranker(d, body.rank_fields) for d in body.documents]
        threshold = body.min_score
        top_n = body.top_n if threshold is None else None  # the threshold comes first, top_n after
        ranked = await self.score(receive, body.query, docs, top_n) if docs else []
        if threshold is not None:
            ranked = RerankResult(list(ranked)).above(threshold, body.top_n)
        results = []
        for r in ranked:
            item: dict[str, Any] = {"index": r.index, "relevance_score": float(r.score)}
            if body.return_documents:
                item["document"] = document_echo(body.documents[r.index])
            results.append(item)
        body_out = {
            "id": str(uuid.uuid4()), "model": self.state.served_name, "results": results,
            "usage": {"search_units": 1, "documents": len(docs)},
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        }
        if threshold is not None:
            body_out["nothing_relevant"] = not results
        return body_out

    async def tei_rerank(self, body: TEIRerankRequest, receive: Receive) -> list[dict[str, Any]]:
        """A TEI rerank request's response body."""
        ranked = await self.score(receive, body.query, list(body.texts), None) if body.texts else []
        out = []
        for r in ranked:
            item: dict[str, Any] = {"index": r.index, "score": raw_score(r) if body.raw_scores else float(r.score)}
            if body.return_text:
                item["text"] = body.texts[r.index]
            out.append(item)
        return out

    async def score(self, receive: Receive, query: str, documents: list[Any], top_n: int | None) -> list[RankedDocument]:
        """Queue one request's documents and wait for its scores (or its deadline, or its client leaving).

        Raises:
            HTTPException: 503 (refused or backend failed), 413 (over the scoring budget), 422 (the reranker
                refused the input), 499 (the client left), 500 (a bug), 504 (not scored in time).
        """
        refused = self.state.refusal()
        if refused is not None:
            self.metrics.dropped.labels(reason=refused.reason).inc()
            raise http_error(503, str(refused), {"Retry-After": str(refused.retry_after)})
        rr = self.state.reranker
        texts = [d if isinstance(d, str) else d["text"] for d in documents]
        cost = estimate_tokens(query, texts, getattr(rr, "max_length", None),
                               getattr(rr, "long_documents", "truncate") != "window")
        budget = self.limits.max_request_tokens
        if cost > budget:
            raise http_error(413, f"this request asks for about {cost} tokens of scoring (documents x tokens, "
                             f"estimated); at most {budget} per request: send fewer or shorter documents")
        try:
            future = self.batcher.enqueue(query, documents, top_n, REQUEST_ID.get())
        except ServiceUnavailable as exc:
            self.metrics.dropped.labels(reason=exc.reason).inc()
            raise http_error(503, str(exc), {"Retry-After": str(exc.retry_after)}) from None
        watcher = asyncio.ensure_future(_client_gone(receive))
        done, _ = await asyncio.wait({future, watcher}, timeout=self.request_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        watcher.cancel()
        if future in done:
            return self._result(future)
        future.cancel()
        if watcher in done:
            self.metrics.dropped.labels(reason="client_disconnected").inc()
            logger.info("client disconnected before its scores were ready; request dropped")
            raise http_error(499, "client closed the request")
        self.metrics.dropped.labels(reason="timeout").inc()
        logger.warning("not scored within the request timeout (%g s): 504", self.request_timeout)
        raise http_error(504, f"the request was not scored within {self.request_timeout:g} s",
                         {"Retry-After": str(self.batcher.retry_after())})

    def _result(self, future: asyncio.Future) -> list[RankedDocument]:
        """A finished scoring future's results, its failure as the HTTP error the client gets."""
        try:
            return future.result()
        except InvalidInputError as exc:
            raise http_error(422, str(exc)) from None
        except ServiceUnavailable as exc:
            raise http_error(503, str(exc), {"Retry-After": str(exc.retry_after)}) from None
        except InteRankError:
            raise http_error(503, "the scoring backend failed on this request; the server log has the detail",
                             {"Retry-After": str(self.batcher.retry_after())}) from None
        except Exception:  # noqa: BLE001 - a bug: the batcher logged the traceback
            raise http_error(500, "internal error while scoring this request; the server log has the detail") \
                from None

    def health(self, status: str) -> dict[str, Any]:
        """The body of ``/health`` and ``/ready`` with this ``status``."""
        state, batcher = self.state, self.batcher
        return {"status": status, "model": state.served_name, "strategy": state.strategy,
                "backend": state.backend, "calibrated": state.calibrated, "ready": state.accepting(),
                "draining": state.draining,
                "load_seconds": state.load_seconds, "scoring_for_s": batcher.busy_for,
                "queue_depth": batcher.queue_depth, "batcher": batcher.stats.as_dict(),
                "limits": self.limits.as_dict()}

    def liveness(self) -> tuple[str, int]:
        """``/health``'s status and HTTP code: 503 when loading failed or a scoring call has stalled."""
        if self.state.status == "failed":
            return "failed", 503
        if self.batcher.stalled:
            return "stalled", 503
        return ("loading" if self.state.status == "loading" else "ok"), 200

    def readiness(self) -> tuple[str, int]:
        """``/ready``'s status and HTTP code: 200 only while the service accepts work."""
        state = self.state
        if state.accepting():
            return "ready", 200
        return ("draining" if state.draining else "stalled" if self.batcher.stalled
                else state.status if state.status != "ready" else "loading"), 503


async def _client_gone(receive: Receive) -> None:
    """Returns when the client disconnects (the request body has already been read)."""
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return


def raw_score(result: RankedDocument) -> float:
    """TEI's raw score: the model's own ``raw_score`` when the reranker reports one (a classifier's
    logit), else the log-odds of the score (``sigmoid(raw) == score``)."""
    raw = getattr(result, "raw_score", None)
    if isinstance(raw, (int, float)) and math.isfinite(raw):
        return float(raw)
    p = min(max(float(result.score), 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))
