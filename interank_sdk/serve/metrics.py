"""Prometheus metrics of ``interank serve`` (``GET /metrics``), with the maintained ``prometheus_client``.

Every app has its own registry (several apps in one process, as in the
tests, never mix their counts). Names:

======================================  =====================================================
``interank_requests_total``             requests by ``route``, ``method`` and ``status``
``interank_request_duration_seconds``   latency histogram by ``route``
``interank_requests_in_flight``         requests being answered now
``interank_queue_depth``                requests waiting for a batch
``interank_batch_requests``             requests merged into one ``rerank_batch`` call
``interank_batch_pairs``                query-document pairs in one call
``interank_batch_duration_seconds``     time one call took
``interank_documents_scored_total``     documents scored and answered
``interank_requests_dropped_total``     requests not scored, by ``reason`` (client_disconnected,
                                        timeout, queue_full, stalled, loading, shutting_down)
``interank_batch_failures_total``       failed scoring calls by ``kind`` (invalid_input,
                                        backend_error, internal_error)
``interank_backend_stalled``            1 while a scoring call has run past the stall timeout
``interank_ready``                      1 once the model is loaded and the service accepts work
``interank_model_load_seconds``         how long loading the model took
``interank_model_info``                 1, labelled with the served model, strategy and backend
======================================  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable

from .._deps import require

#: routes reported by name; any other path is counted as "other" (bounded label cardinality)
KNOWN_ROUTES = ("/v1/rerank", "/v2/rerank", "/rerank", "/health", "/ready", "/metrics", "/openapi.json", "/docs",
                "/docs/oauth2-redirect", "/redoc")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class ServeMetrics:
    """The service's Prometheus collectors, in a registry of their own."""

    def __init__(self) -> None:
        prom = require("prometheus_client", "serve")
        self._prom = prom
        self.registry = prom.CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = prom.Counter("interank_requests", "HTTP requests answered", ["route", "method", "status"],
                                     registry=r)
        self.latency = prom.Histogram("interank_request_duration_seconds", "HTTP request latency", ["route"],
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = prom.Gauge("interank_requests_in_flight", "requests being answered", registry=r)
        self.queue_depth = prom.Gauge("interank_queue_depth", "requests waiting for a batch", registry=r)
        self.batch_requests = prom.Histogram("interank_batch_requests", "requests per rerank_batch call",
                                             buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        self.batch_pairs = prom.Histogram("interank_batch_pairs", "query-document pairs per rerank_batch call",
                                          buckets=(1, 4, 16, 64, 128, 256, 512, 1024, 4096), registry=r)
        self.batch_seconds = prom.Histogram("interank_batch_duration_seconds", "duration of one rerank_batch call",
                                            buckets=LATENCY_BUCKETS, registry=r)
        self.documents = prom.Counter("interank_documents_scored", "documents scored and answered", registry=r)
        self.dropped = prom.Counter("interank_requests_dropped", "requests not scored", ["reason"], registry=r)
        self.failures = prom.Counter("interank_batch_failures", "failed rerank_batch calls", ["kind"], registry=r)
        self.stalled = prom.Gauge("interank_backend_stalled", "1 while a scoring call runs past the stall timeout",
                                  registry=r)
        self.ready = prom.Gauge("interank_ready", "1 when the model is loaded and work is accepted", registry=r)
        self.load_seconds = prom.Gauge("interank_model_load_seconds", "time taken to load the model", registry=r)
        self.model_info = prom.Gauge("interank_model_info", "the served model", ["model", "strategy", "backend"],
                                     registry=r)

    def bind(self, queue_depth: Callable[[], float], stalled: Callable[[], bool], ready: Callable[[], bool]) -> None:
        """Read the live gauges from the service's state at scrape time."""
        self.queue_depth.set_function(lambda: float(queue_depth()))
        self.stalled.set_function(lambda: float(stalled()))
        self.ready.set_function(lambda: float(ready()))

    def observe_request(self, path: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (``path`` outside :data:`KNOWN_ROUTES` counts as ``other``)."""
        route = path if path in KNOWN_ROUTES else "other"
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_batch(self, requests: int, pairs: int, seconds: float) -> None:
        """One successful ``rerank_batch`` call."""
        self.batch_requests.observe(requests)
        self.batch_pairs.observe(pairs)
        self.batch_seconds.observe(seconds)
        self.documents.inc(pairs)

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST

