"""The state the routes share: the model (once loaded), whether it is ready, stalled or draining."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .batcher import MicroBatcher, ServiceUnavailable
from .metrics import ServeMetrics


def display_name(model: str) -> str:
    """The model name responses report: a local file or folder by its last component, never its full path.

    A composed name (a cascade's ``"first -> second"``) is shortened part by part; hub ids stay as they are.
    """
    def short(part: str) -> str:
        local = part.startswith(("/", "~", "./", "../")) or Path(part).expanduser().exists()
        return Path(part).name if local else part

    return " -> ".join(short(part.strip()) for part in model.split(" -> "))


class ServiceState:
    """What the routes need to know: the model, whether it is loaded, stalled or draining."""

    def __init__(self, batcher: MicroBatcher, metrics: ServeMetrics, model_name: str | None) -> None:
        self.batcher = batcher
        self.metrics = metrics
        self.model_name = model_name
        self.reranker: Any = None
        self.status = "loading"  # loading | ready | failed
        self.draining = False
        self.load_seconds: float | None = None

    @property
    def served_name(self) -> str:
        return self.model_name or "interank"

    def loaded(self, reranker: Any, seconds: float) -> None:
        self.reranker = self.batcher.reranker = reranker
        if self.model_name is None:
            self.model_name = display_name(str(getattr(reranker, "model_name", "interank")))
        self.load_seconds = seconds
        self.status = "ready"
        self.metrics.load_seconds.set(seconds)
        self.metrics.model_info.labels(model=self.served_name, strategy=str(self.strategy),
                                       backend=str(self.backend)).set(1)

    @property
    def calibrated(self) -> bool | None:
        """Whether the served reranker's scores are calibrated probabilities (``min_score`` then means
        P(relevant)); ``None`` before the model is loaded."""
        if self.reranker is None:
            return None
        return getattr(self.reranker, "calibration", None) is not None

    @property
    def strategy(self) -> str | None:
        return getattr(getattr(self.reranker, "strategy", None), "name", None)

    @property
    def backend(self) -> str | None:
        return getattr(getattr(self.reranker, "backend", None), "name", None)

    def accepting(self) -> bool:
        return self.status == "ready" and not self.batcher.stalled and not self.draining

    def refusal(self) -> ServiceUnavailable | None:
        """Why a rerank request would be refused right now (loading, failed, draining, stalled, queue full),
        or ``None`` when it would be queued."""
        batcher = self.batcher
        if self.status == "loading":
            return ServiceUnavailable("the model is loading", retry_after=5, reason="loading")
        if self.status == "failed":
            return ServiceUnavailable("the model failed to load", retry_after=60, reason="failed")
        if self.draining:
            return ServiceUnavailable("the server is shutting down", retry_after=1, reason="shutting_down")
        if batcher.stalled:
            return ServiceUnavailable(f"the scoring backend has not answered for {batcher.busy_for or 0:.0f} s",
                                      retry_after=batcher.retry_after(), reason="stalled")
        if batcher.queue_depth >= batcher.max_queue:
            return ServiceUnavailable(f"the service is busy: {batcher.max_queue} requests are already waiting",
                                      retry_after=batcher.retry_after(), reason="queue_full")
        return None
