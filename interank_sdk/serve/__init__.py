"""``interank serve``: a Cohere, Jina and TEI-compatible HTTP rerank service (FastAPI + uvicorn).

Install with ``pip install 'interank-sdk[serve]'``; run ``interank serve --model M
--api-key-file keys.txt``. The app factory :func:`create_app`, the
:class:`MicroBatcher` and :class:`BackgroundServer` can be used on their own
(e.g. mounted in an existing FastAPI app). docs/serving.md is the operator's guide.
"""

from __future__ import annotations

from typing import Any

from .batcher import BatcherStats, MicroBatcher, ServiceUnavailable


def create_app(reranker: Any = None, **options: Any):
    """Build the FastAPI app serving ``reranker`` (see :func:`interank_sdk.serve.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(reranker, **options)


def BackgroundServer(app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                     **options: Any):
    """uvicorn in a daemon thread (see :class:`interank_sdk.serve.server.BackgroundServer`)."""
    from .server import BackgroundServer as _BackgroundServer

    return _BackgroundServer(app, host=host, port=port, log_level=log_level, **options)


def wait_ready(url: str, **options: Any) -> None:
    """Block until the server at ``url`` is ready (see :func:`interank_sdk.serve.server.wait_ready`)."""
    from .server import wait_ready as _wait_ready

    _wait_ready(url, **options)


__all__ = ["BackgroundServer", "BatcherStats", "MicroBatcher", "ServiceUnavailable", "create_app", "wait_ready"]
