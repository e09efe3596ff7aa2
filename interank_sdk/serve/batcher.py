"""Micro-batching: concurrent rerank requests share forward passes, and one request cannot sink the others.

Requests wait in a bounded queue. One worker task takes the first waiting
request together with every other request already queued (up to
``max_batch_pairs`` query-document pairs), optionally waits ``max_wait_ms``
for more, and scores them all with a single ``rerank_batch`` call on a
dedicated scoring thread, so the backend packs pairs of different requests
into the same forward passes (unless it was built with ``mix_queries=False``:
then each request keeps its own batches, and exactly the scores ``rerank``
gives it). While a batch is being scored, new requests
queue up and form the next batch, so batches grow with the load without any
waiting: the default ``max_wait_ms=0`` adds no latency. (Measured on this
project's shared, busy 2-core CPU with the tests' tiny model and 8 clients:
with a 5 ms window p95 latency was 1.7-4.4 s in three runs, without one
0.2-0.4 s, and 1.55x the throughput of unbatched serving; see
``bench/serve_load.py``.)

Isolation and faults:

* when a batch of several requests raises (bad input the reranker rejects, a
  backend error, a bug triggered by one input), it is split in halves that are
  scored apart, recursively, so only the request(s) that fail on their own get
  an error (one bad request among n costs about log2(n) extra calls, not n);
* a request whose future was cancelled (its client went away or its deadline
  passed) before its batch formed is dropped, never scored;
* the queue is bounded (``max_queue`` requests): beyond it :meth:`MicroBatcher.enqueue`
  raises :class:`ServiceUnavailable` with a ``retry_after`` hint instead of
  letting latency grow without bound;
* a scoring call running longer than ``stall_timeout`` marks the batcher
  :attr:`~MicroBatcher.stalled`: new requests are refused at once (503) and
  ``/health`` reports it. Python cannot interrupt a call stuck in native code,
  so the calls of that batch wait for it; the scoring thread is a daemon
  thread, so a stuck call never keeps the process from exiting.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendError, InteRankError, InvalidInputError
from ..types import DocumentLike, RerankResult
from .logs import REQUEST_ID
from .threads import ScoringThread

logger = logging.getLogger(__name__)


class ServiceUnavailable(BackendError):
    """The service cannot take a request now (HTTP 503).

    Attributes:
        retry_after: seconds after which a retry may succeed.
        reason: ``queue_full``, ``stalled``, ``loading`` or ``shutting_down``.
    """

    def __init__(self, message: str, *, retry_after: int, reason: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.reason = reason


@dataclass
class BatcherStats:
    """Counters of a :class:`MicroBatcher` (read them to see batching at work).

    Attributes:
        requests: requests answered (successfully or not).
        batches: ``rerank_batch`` calls made.
        pairs: query-document pairs scored.
        forward_passes: backend forward passes those calls took.
        largest_batch: most requests merged into one call.
        failed_batches: batches of several requests that raised and were split to isolate the failure.
        dropped: requests cancelled (client gone, deadline passed) before they were scored.
        rejected: requests refused because the queue was full or the backend stalled.
    """

    requests: int = 0
    batches: int = 0
    pairs: int = 0
    forward_passes: int = 0
    largest_batch: int = 0
    failed_batches: int = 0
    dropped: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["pairs_per_forward_pass"] = self.pairs / self.forward_passes if self.forward_passes else None
        out["requests_per_batch"] = self.requests / self.batches if self.batches else None
        return out


@dataclass
class _Job:
    query: str
    documents: Sequence[DocumentLike]
    top_k: int | None
    future: asyncio.Future = field(repr=False)
    request_id: str = "-"

    @property
    def pairs(self) -> int:
        return max(1, len(self.documents))


class MicroBatcher:
    """Gather concurrent rerank requests into shared ``rerank_batch`` calls.

    Args:
        reranker: anything with ``rerank_batch(queries, documents_per_query)``
            returning one list of results (``.index``, ``.score``, ``.document``)
            per query, e.g. a :class:`~interank_sdk.Reranker`. A
            ``backend.forward_passes`` counter, when present, feeds the stats.
        max_batch_pairs: stop gathering once this many pairs are collected (a
            single larger request still runs, alone).
        max_wait_ms: how long the first request of a batch waits for company.
        max_queue: requests allowed to wait; more are refused with :class:`ServiceUnavailable`.
        stall_timeout: seconds a scoring call may run before the batcher reports itself stalled.
        metrics: a :class:`~interank_sdk.serve.metrics.ServeMetrics` to report batches to.

    Use it from one event loop::

        batcher = MicroBatcher(reranker)
        await batcher.start()
        result = await batcher.submit("query", ["doc a", "doc b"])
        await batcher.stop()
    """

    def __init__(self, reranker: Any, *, max_batch_pairs: int = 256, max_wait_ms: float = 0.0,
                 max_queue: int = 256, stall_timeout: float = 120.0, metrics: Any = None) -> None:
        if max_batch_pairs < 1:
            raise InvalidInputError(f"max_batch_pairs must be >= 1, got {max_batch_pairs}")
        if max_wait_ms < 0:
            raise InvalidInputError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if max_queue < 1:
            raise InvalidInputError(f"max_queue must be >= 1, got {max_queue}")
        if not stall_timeout > 0:
            raise InvalidInputError(f"stall_timeout must be > 0, got {stall_timeout}")
        self.reranker = reranker
        self.max_batch_pairs = max_batch_pairs
        self.max_wait_ms = max_wait_ms
        self.max_queue = max_queue
        self.stall_timeout = stall_timeout
        self.metrics = metrics
        self.stats = BatcherStats()
        self._pending: collections.deque[_Job] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._thread: ScoringThread | None = None
        self._busy_since: float | None = None
        self._busy_pairs = 0
        self._pairs_per_s: float | None = None

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def queue_depth(self) -> int:
        """Requests waiting for a batch (cancelled ones not counted)."""
        return sum(not j.future.done() for j in self._pending)

    @property
    def busy_for(self) -> float | None:
        """Seconds the scoring call in progress has run, or ``None`` when idle."""
        return None if self._busy_since is None else time.monotonic() - self._busy_since

    @property
    def stalled(self) -> bool:
        """True while a scoring call has run longer than ``stall_timeout``."""
        busy = self.busy_for
        return busy is not None and busy > self.stall_timeout

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the queued work at the recent scoring rate (1-60)."""
        if self.stalled:
            return 30
        waiting = self._busy_pairs + sum(j.pairs for j in self._pending if not j.future.done())
        seconds = waiting / self._pairs_per_s if self._pairs_per_s else 1.0
        return int(min(60, max(1, math.ceil(seconds))))

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start the worker task on the running event loop."""
        if self.running:
            return
        self._wakeup = asyncio.Event()
        self._thread = ScoringThread()
        self._task = asyncio.create_task(self._worker(), name="interank-batcher")

    async def stop(self) -> None:
        """Stop the worker; requests still queued fail with :class:`ServiceUnavailable`."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._thread is not None:
            self._thread.close()
            self._thread = None
        while self._pending:
            job = self._pending.popleft()
            if not job.future.done():
                job.future.set_exception(
                    ServiceUnavailable("the reranking service is shutting down", retry_after=1, reason="shutting_down"))

    # ---------------------------------------------------------------- submit
    def enqueue(self, query: str, documents: Sequence[DocumentLike], top_k: int | None = None,
                request_id: str | None = None) -> asyncio.Future:
        """Queue one query's documents for the next batch; await the returned future for the result.

        Cancel the future to withdraw the request: if its batch has not formed yet it is never scored.

        Raises:
            ServiceUnavailable: the batcher is not running, the queue is full, or the backend stalled.
        """
        if not self.running or self._wakeup is None:
            raise ServiceUnavailable("the reranking service is not running", retry_after=1, reason="shutting_down")
        if self.stalled:
            self.stats.rejected += 1
            raise ServiceUnavailable(f"the scoring backend has not answered for {self.busy_for:.0f} s",
                                     retry_after=self.retry_after(), reason="stalled")
        if self.queue_depth >= self.max_queue:
            self.stats.rejected += 1
            raise ServiceUnavailable(f"the service is busy: {self.max_queue} requests are already waiting",
                                     retry_after=self.retry_after(), reason="queue_full")
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(query, documents, top_k, future, request_id or REQUEST_ID.get()))
        self._wakeup.set()
        return future

    async def submit(self, query: str, documents: Sequence[DocumentLike], top_k: int | None = None,
                     request_id: str | None = None) -> RerankResult:
        """Rerank one query's documents as part of the next batch."""
        return await self.enqueue(query, documents, top_k, request_id)

    # ---------------------------------------------------------------- worker
    def _take(self) -> _Job | None:
        """The next live job (cancelled ones are counted as dropped and skipped)."""
        while self._pending:
            job = self._pending.popleft()
            if not job.future.done():
                return job
            self.stats.dropped += 1
            logger.info("dropped before scoring (client gone or deadline passed)", extra={"request_id": job.request_id})
        return None

    async def _gather(self) -> list[_Job]:
        """The next batch: the first waiting request, then whatever else is waiting (or arrives within
        ``max_wait_ms``), up to the pair budget."""
        assert self._wakeup is not None
        first = self._take()
        while first is None:
            self._wakeup.clear()
            await self._wakeup.wait()
            first = self._take()
        jobs, pairs = [first], first.pairs

        def drain() -> None:
            nonlocal pairs
            while pairs < self.max_batch_pairs and self._pending:
                nxt = self._pending[0]
                if not nxt.future.done() and pairs + nxt.pairs > self.max_batch_pairs:
                    return  # starts the next batch
                job = self._take()
                if job is not None:
                    jobs.append(job)
                    pairs += job.pairs

        drain()
        if pairs < self.max_batch_pairs and self.max_wait_ms > 0:
            await asyncio.sleep(self.max_wait_ms / 1000.0)
            drain()
        return [j for j in jobs if not j.future.done()]

    def _score(self, jobs: list[_Job]) -> list[RerankResult]:
        """Runs on the scoring thread: one rerank_batch call for all jobs."""
        results = self.reranker.rerank_batch([j.query for j in jobs], [j.documents for j in jobs])
        if len(results) != len(jobs):
            raise BackendError(f"rerank_batch returned {len(results)} results for {len(jobs)} queries")
        out = []
        for job, result in zip(jobs, results):
            stats = getattr(result, "stats", None)
            out.append(RerankResult(list(result) if job.top_k is None else list(result)[: job.top_k], stats))
        return out

    async def _run(self, jobs: list[_Job]) -> None:
        backend = getattr(self.reranker, "backend", None)
        before = getattr(backend, "forward_passes", 0)
        pairs = sum(len(j.documents) for j in jobs)
        token = REQUEST_ID.set(",".join(j.request_id for j in jobs))  # the SDK's log lines name the batch
        start = self._busy_since = time.monotonic()
        self._busy_pairs = pairs
        failure: Exception | None = None
        try:
            assert self._thread is not None
            results = await self._thread.run(lambda: self._score(jobs))
        except Exception as exc:  # noqa: BLE001 - isolated below, then reported to the request(s) it belongs to
            failure = exc
        finally:
            seconds = time.monotonic() - start
            self._busy_since = None
            self._busy_pairs = 0
            REQUEST_ID.reset(token)
            self.stats.batches += 1
            self.stats.forward_passes += getattr(backend, "forward_passes", 0) - before
        if failure is None:
            for job, result in zip(jobs, results):
                self._settle(job, result)
            self.stats.pairs += pairs
            self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))
            if seconds > 0 and pairs:
                rate = pairs / seconds
                self._pairs_per_s = rate if self._pairs_per_s is None else 0.7 * self._pairs_per_s + 0.3 * rate
            if self.metrics is not None:
                self.metrics.observe_batch(len(jobs), pairs, seconds)
        elif len(jobs) > 1:
            self.stats.failed_batches += 1
            logger.warning("a batch of %d requests (%s) failed with %s; scoring its halves apart",
                           len(jobs), ",".join(j.request_id for j in jobs), type(failure).__name__)
            half = len(jobs) // 2
            for part in (jobs[:half], jobs[half:]):  # bisect: ~log2(n) extra calls to find the bad request(s)
                live = [j for j in part if not j.future.done()]
                if live:
                    await self._run(live)
        else:
            self._fail(jobs[0], failure)

    def _fail(self, job: _Job, exc: BaseException) -> None:
        """Report a failure to its request; the detail stays in the server log."""
        if isinstance(exc, InvalidInputError):
            kind = "invalid_input"
            logger.info("rejected by the reranker: %s", exc, extra={"request_id": job.request_id})
        elif isinstance(exc, InteRankError):
            kind = "backend_error"
            logger.error("the backend failed: %s: %s", type(exc).__name__, exc, extra={"request_id": job.request_id})
        else:
            kind = "internal_error"
            logger.error("scoring raised %s", type(exc).__name__, exc_info=exc, extra={"request_id": job.request_id})
        if self.metrics is not None:
            self.metrics.failures.labels(kind=kind).inc()
        self.stats.requests += 1
        if not job.future.done():
            job.future.set_exception(exc)

    def _settle(self, job: _Job, result: RerankResult) -> None:
        self.stats.requests += 1
        if not job.future.done():  # the client went away while its batch was scored
            job.future.set_result(result)

    async def _worker(self) -> None:
        while True:
            jobs = await self._gather()
            if jobs:
                await self._run(jobs)
