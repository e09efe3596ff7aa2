"""``GET /metrics``: the app's Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..guards import safe_json_route_class
from ..protocol import ErrorBody
from . import service_of

router = APIRouter(route_class=safe_json_route_class())


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, 401: {"model": ErrorBody}})
async def prometheus(request: Request) -> Response:
    body, content_type = service_of(request).metrics.render()
    return Response(content=body, media_type=content_type)
