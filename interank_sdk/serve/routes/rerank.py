"""``POST /v1/rerank``, ``/v2/rerank`` (Cohere v1/v2, Jina) and ``POST /rerank`` (TEI)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ..guards import safe_json_route_class
from ..protocol import REQUEST_LIMITS, ErrorBody, RerankRequest, RerankResponse, TEIRank, TEIRerankRequest
from ..responses import SafeJSONResponse
from . import service_of


async def bind_limits(request: Request) -> None:
    """Validate this request's body under its app's limits (run before the body is validated)."""
    REQUEST_LIMITS.set(service_of(request).limits)


#: the documented error answers of a rerank route
ERRORS = {status: {"model": ErrorBody} for status in (401, 408, 413, 422, 500, 503, 504)}
router = APIRouter(route_class=safe_json_route_class(), dependencies=[Depends(bind_limits)])


@router.post("/v1/rerank", summary="Rerank documents (Cohere v1 / Jina)", response_model=RerankResponse,
             responses=ERRORS)
async def rerank(body: RerankRequest, request: Request) -> SafeJSONResponse:
    return SafeJSONResponse(await service_of(request).rerank(body, request.receive))


router.post("/v2/rerank", summary="Rerank documents (Cohere v2)", response_model=RerankResponse,
            responses=ERRORS)(rerank)


@router.post("/rerank", summary="Rerank texts (Text Embeddings Inference)", response_model=list[TEIRank],
             responses=ERRORS)
async def tei_rerank(body: TEIRerankRequest, request: Request) -> SafeJSONResponse:
    return SafeJSONResponse(await service_of(request).tei_rerank(body, request.receive))
