"""Request ids in every log line of ``interank serve``.

Each request gets an id (the client's ``X-Request-ID`` when it is a short
token, else a fresh one) that is returned in the ``X-Request-ID`` response
header and held in a context variable while the request runs. The
:class:`RequestIdFilter` copies it onto every log record, so the service's
own lines, uvicorn's access lines and the SDK's lines emitted while a batch is
scored (the batch carries the ids of its requests) all name the request(s)
they are about. Lines outside any request show ``-``.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from typing import Any

#: the request id(s) the running code works for ("-" outside requests)
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("interank_request_id", default="-")

_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def new_request_id(client_value: str | None = None) -> str:
    """The client's ``X-Request-ID`` if it is a safe short token, else a new random id."""
    if client_value and _CLIENT_ID.fullmatch(client_value):
        return client_value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request's id, unless the call passed one in ``extra``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and the SDK: one format, a request id on every line."""
    level = level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "plain",
        "filters": ["request_id"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            "interank_sdk": {"handlers": ["default"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
