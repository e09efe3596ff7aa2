"""``interank serve``: the HTTP rerank service (:mod:`interank_sdk.serve`) on uvicorn.

Only the parser is built for other commands: fastapi, uvicorn and pydantic (the
``serve`` extra) are imported when ``serve`` runs, so ``interank rerank`` and
``interank eval`` work without them.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
from typing import Any

from .._deps import require
from ..errors import InvalidInputError
from ..serve import limits as defaults
from ..serve.server import (
    DEFAULT_GRACEFUL_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_CONNECTIONS,
    make_server,
)
from .model_args import make_reranker, model_args

#: the service's own logger name, as in its log lines
logger = logging.getLogger("interank_sdk.serve")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to the ``interank`` subcommands (the model options are shared with ``rerank``)."""
    p = subparsers.add_parser(
        "serve",
        help="serve Cohere/Jina/TEI-compatible rerank routes over HTTP",
        description="Serve a reranker over HTTP: POST /v1/rerank and /v2/rerank (Cohere, Jina), POST /rerank "
        "(TEI), GET /health, /ready and /metrics. Concurrent requests are micro-batched into shared forward "
        "passes. Guide: docs/serving.md.",
    )
    model_args(p)
    g = p.add_argument_group("network and authentication")
    g.add_argument("--host", default="127.0.0.1",
                   help="interface to bind (default 127.0.0.1; any other address needs an API key)")
    g.add_argument("--port", type=int, default=8080)
    g.add_argument("--api-key", action="append", default=[], metavar="KEY",
                   help="accept 'Authorization: Bearer KEY' (repeatable; prefer --api-key-file or "
                   "$INTERANK_API_KEY: a key on the command line is visible to other users in ps)")
    g.add_argument("--api-key-file", default=None, metavar="PATH", help="file with one API key per line")
    g.add_argument("--allow-unauthenticated", action="store_true",
                   help="serve on a non-loopback address without a key (only behind something that authenticates)")
    g.add_argument("--metrics-public", action="store_true", help="serve GET /metrics without a key")
    g.add_argument("--served-model-name", default=None, help="model name reported in responses")

    g = p.add_argument_group("limits")
    g.add_argument("--max-documents", type=int, default=defaults.DEFAULT_MAX_DOCUMENTS, help="documents per request")
    g.add_argument("--max-document-chars", type=int, default=defaults.DEFAULT_MAX_DOCUMENT_CHARS,
                   help="characters per document")
    g.add_argument("--max-query-chars", type=int, default=defaults.DEFAULT_MAX_QUERY_CHARS)
    g.add_argument("--max-body-bytes", type=int, default=defaults.DEFAULT_MAX_BODY_BYTES,
                   help="request body size (413 above)")
    g.add_argument("--max-request-tokens", type=int, default=defaults.DEFAULT_MAX_REQUEST_TOKENS,
                   help="estimated scoring work per request, documents x tokens (413 above)")
    g.add_argument("--max-queue", type=int, default=defaults.DEFAULT_MAX_QUEUE,
                   help="requests waiting for a batch; more get 503 with Retry-After")
    g.add_argument("--request-timeout", type=float, default=defaults.DEFAULT_REQUEST_TIMEOUT,
                   help="seconds a request may wait for its scores (504 after)")
    g.add_argument("--stall-timeout", type=float, default=None,
                   help="seconds one scoring call may run before /health reports the backend stalled "
                   "(default: --request-timeout)")
    g.add_argument("--body-timeout", type=float, default=defaults.DEFAULT_BODY_TIMEOUT,
                   help="seconds a request body may take to arrive (408 after)")
    g.add_argument("--header-timeout", type=float, default=DEFAULT_HEADER_TIMEOUT,
                   help="close a connection that sends no complete request head within this many seconds")
    g.add_argument("--timeout-keep-alive", type=float, default=DEFAULT_KEEP_ALIVE,
                   help="close an idle keep-alive connection after this many seconds")
    g.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS,
                   help="connections and requests at once (more get 503)")
    g.add_argument("--graceful-timeout", type=float, default=DEFAULT_GRACEFUL_TIMEOUT,
                   help="on SIGTERM, how long requests in flight may take to finish")

    g = p.add_argument_group("batching and logs")
    g.add_argument("--max-batch-pairs", type=int, default=256, help="query-document pairs merged into one batch")
    g.add_argument("--batch-wait-ms", type=float, default=0.0,
                   help="how long the first request of a batch waits for company (default 0: requests that "
                   "arrive while a batch runs form the next one)")
    g.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Check the exposure, start the server, load the model in the background, serve until SIGTERM."""
    require("uvicorn", "serve")
    require("fastapi", "serve")
    from ..serve.app import create_app
    from ..serve.auth import check_exposure, load_api_keys
    from ..serve.logs import log_config
    from ..serve.state import display_name

    if not 0 <= args.port <= 65535:
        raise InvalidInputError(f"--port must be in [0, 65535], got {args.port}")
    keys = load_api_keys(args.api_key, args.api_key_file)
    check_exposure(args.host, keys, args.allow_unauthenticated)
    logging_config = log_config(args.log_level)
    logging.config.dictConfig(logging_config)

    failure: list[BaseException] = []
    server: Any = None

    def load_failed(exc: BaseException) -> None:
        failure.append(exc)
        if server is not None:
            server.should_exit = True

    app = create_app(
        loader=lambda: make_reranker(args),
        model_name=args.served_model_name or display_name(args.model),
        api_keys=keys,
        metrics_public=args.metrics_public,
        max_documents=args.max_documents,
        max_document_chars=args.max_document_chars,
        max_query_chars=args.max_query_chars,
        max_body_bytes=args.max_body_bytes,
        max_request_tokens=args.max_request_tokens,
        max_batch_pairs=args.max_batch_pairs,
        batch_wait_ms=args.batch_wait_ms,
        max_queue=args.max_queue,
        request_timeout=args.request_timeout,
        stall_timeout=args.stall_timeout,
        body_timeout=args.body_timeout,
        on_load_failure=load_failed,
    )
    server = make_server(app, host=args.host, port=args.port, log_level=args.log_level, log_config=logging_config,
                         header_timeout=args.header_timeout, timeout_keep_alive=args.timeout_keep_alive,
                         max_connections=args.max_connections, graceful_timeout=args.graceful_timeout)
    logger.info("interank serve: loading %s; listening on http://%s:%d (%s)", args.model, args.host, args.port,
                f"{len(keys)} API key(s)" if keys else "no authentication")
    server.run()
    if failure:
        raise failure[0]
    return 0

