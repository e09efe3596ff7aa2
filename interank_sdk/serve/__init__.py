"""``interank serve``: a Cohere/Jina-compatible HTTP rerank service (FastAPI + uvicorn).

Install with ``pip install 'interank-sdk[serve]'``; run ``interank serve --model M``.
The app factory :func:`create_app` and the :class:`MicroBatcher` can be used
on their own (e.g. mounted in an existing FastAPI app).
"""

from __future__ import annotations

from typing import Any

from .batcher import BatcherStats, MicroBatcher


def create_app(reranker: Any, **options: Any):
    """Build the FastAPI app serving ``reranker`` (see :func:`interank_sdk.serve.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(reranker, **options)


def BackgroundServer(app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):  # noqa: N802
    """uvicorn in a daemon thread (see :class:`interank_sdk.serve.app.BackgroundServer`)."""
    from .app import BackgroundServer as _BackgroundServer

    return _BackgroundServer(app, host=host, port=port, log_level=log_level)


__all__ = ["create_app", "BackgroundServer", "MicroBatcher", "BatcherStats"]
