"""``GET /health`` (liveness, never behind a key) and ``GET /ready`` (readiness)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..guards import safe_json_route_class
from ..protocol import ErrorBody, Health
from ..responses import SafeJSONResponse
from . import service_of

RESPONSES = {200: {"model": Health}, 503: {"model": Health}}
#: ``/health``: included without the API key's dependency
open_router = APIRouter(route_class=safe_json_route_class())
router = APIRouter(route_class=safe_json_route_class())


@open_router.get("/health", summary="Liveness (never needs a key)", response_model=Health, responses=RESPONSES)
async def health(request: Request) -> SafeJSONResponse:
    service = service_of(request)
    status, code = service.liveness()
    return SafeJSONResponse(service.health(status), status_code=code)


@router.get("/ready", summary="Readiness: 200 once the model is loaded and work is accepted", response_model=Health,
            responses={**RESPONSES, 401: {"model": ErrorBody}})
async def ready(request: Request) -> SafeJSONResponse:
    service = service_of(request)
    status, code = service.readiness()
    headers = {"Retry-After": "5"} if code != 200 else None
    return SafeJSONResponse(service.health(status), status_code=code, headers=headers)
