"""JSON responses and error bodies of ``interank serve``.

Every error is ``{"message", "detail", "request_id"}`` (:class:`~.protocol.ErrorBody`):
a 422 names the invalid field in ``message`` and lists pydantic's errors in
``detail``; the others carry the reason as both.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .logs import REQUEST_ID


class SafeJSONResponse(JSONResponse):
    """JSON that never fails on text: UTF-8 when it encodes, ASCII escapes otherwise (and no NaN)."""

    def render(self, content: Any) -> bytes:
        try:
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def http_error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    """The exception that answers ``status`` with ``message`` (and ``headers``, e.g. ``Retry-After``)."""
    return HTTPException(status_code=status, detail=message, headers=headers)


async def validation_error(request: Request, exc: RequestValidationError) -> SafeJSONResponse:
    """422: each invalid field by its location (``documents.3.text: ...``), invalid JSON as ``body``."""
    errors = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        loc = list(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            message, loc = str((err.get("ctx") or {}).get("error", message)), ["body"]
        errors.append({"loc": loc, "msg": message, "type": err.get("type")})
    summary = "; ".join(
        f"{where}: {e['msg']}" if (where := ".".join(str(p) for p in e["loc"] if p != "body")) else e["msg"]
        for e in errors)
    return SafeJSONResponse(status_code=422, content={"message": summary, "detail": errors,
                                                      "request_id": REQUEST_ID.get()})


async def http_exception(request: Request, exc: HTTPException) -> SafeJSONResponse:
    """Any HTTP error (raised by the routes or by FastAPI itself) in the service's error body."""
    return SafeJSONResponse(status_code=exc.status_code, headers=getattr(exc, "headers", None),
                            content={"message": str(exc.detail), "detail": exc.detail,
                                     "request_id": REQUEST_ID.get()})
