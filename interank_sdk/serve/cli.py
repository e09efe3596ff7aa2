"""The ``interank serve`` subcommand."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ..errors import InvalidInputError

logger = logging.getLogger("interank_sdk.serve")


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to the ``interank`` subcommands (the model options are shared with ``rerank``)."""
    from ..cli import _model_args
    from .app import (
        DEFAULT_MAX_BODY_BYTES,
        DEFAULT_MAX_DOCUMENT_CHARS,
        DEFAULT_MAX_DOCUMENTS,
        DEFAULT_MAX_QUERY_CHARS,
    )

    p = subparsers.add_parser(
        "serve",
        help="serve POST /v1/rerank (Cohere/Jina compatible) over HTTP",
        description="Serve a reranker over HTTP: POST /v1/rerank (Cohere/Jina compatible) and GET /health. "
        "Concurrent requests are micro-batched into shared forward passes.",
    )
    _model_args(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--served-model-name", default=None, help="model name reported in responses")
    p.add_argument("--max-documents", type=int, default=DEFAULT_MAX_DOCUMENTS, help="documents per request")
    p.add_argument("--max-document-chars", type=int, default=DEFAULT_MAX_DOCUMENT_CHARS,
                   help="characters per document")
    p.add_argument("--max-query-chars", type=int, default=DEFAULT_MAX_QUERY_CHARS)
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="request body size (413 above)")
    p.add_argument("--max-batch-pairs", type=int, default=256,
                   help="query-document pairs merged into one batch")
    p.add_argument("--batch-wait-ms", type=float, default=0.0,
                   help="how long the first request of a batch waits for company (default 0: requests that "
                   "arrive while a batch runs form the next one)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_serve)
    return p


def cmd_serve(args: argparse.Namespace) -> int:
    """Load the model, build the app and run uvicorn until interrupted."""
    from .._deps import require
    from ..cli import _make_reranker
    from .app import create_app

    uvicorn = require("uvicorn", "serve")
    require("fastapi", "serve")
    if not 0 <= args.port <= 65535:
        raise InvalidInputError(f"--port must be in [0, 65535], got {args.port}")
    reranker = _make_reranker(args)
    app = create_app(
        reranker,
        model_name=args.served_model_name,
        max_documents=args.max_documents,
        max_document_chars=args.max_document_chars,
        max_query_chars=args.max_query_chars,
        max_body_bytes=args.max_body_bytes,
        max_batch_pairs=args.max_batch_pairs,
        batch_wait_ms=args.batch_wait_ms,
    )
    logger.info("interank serve: %r on http://%s:%d", reranker, args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
