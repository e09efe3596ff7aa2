"""The HTTP routes of ``interank serve``, one ``APIRouter`` per family.

* :mod:`.rerank`: ``POST /v1/rerank``, ``/v2/rerank`` (Cohere, Jina) and ``/rerank`` (TEI);
* :mod:`.health`: ``GET /health`` (liveness, never behind a key) and ``GET /ready``;
* :mod:`.metrics`: ``GET /metrics`` (Prometheus).

The routers are module-level and shared by every app; each app includes them
(:func:`~interank_sdk.serve.app.create_app`) and answers with its own
:class:`~interank_sdk.serve.service.RerankService`, found in ``app.state``.
"""

from __future__ import annotations

from fastapi import Request

from ..service import RerankService


def service_of(request: Request) -> RerankService:
    """The :class:`RerankService` of the app answering ``request``."""
    return request.app.state.rerank_service
