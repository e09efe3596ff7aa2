"""Request and response models of ``interank serve`` (they are also its OpenAPI schema).

The rerank request accepts what the official clients send:

* Cohere v2 (``ClientV2.rerank``, LlamaIndex's and LangChain's ``CohereRerank``):
  ``model``, ``query``, ``documents`` (strings), ``top_n``, ``max_tokens_per_doc``, ``priority``;
* Cohere v1 (``Client.rerank``): also ``return_documents``, ``max_chunks_per_doc``,
  ``rank_fields`` and documents that are objects of string fields (``rank_fields``
  names the fields to rank on, in order; other fields come back untouched);
* Jina: ``model``, ``query``, ``documents``, ``top_n``, ``return_documents``;
* TEI's ``POST /rerank``: ``query``, ``texts``, ``raw_scores``, ``return_text``,
  ``truncate``, ``truncation_direction`` (``Right`` only).

Fields the service accepts but cannot honour (``max_tokens_per_doc``,
``max_chunks_per_doc``, ``priority``, ``truncate``) are documented in
docs/serving.md; any other field is refused (422), as is any value of the wrong type.

The per-app :class:`~interank_sdk.serve.limits.Limits` (documents per request,
characters per text) are checked by the models' validators: they read the
limits from the validation context (``RerankRequest.model_validate(data,
context={"limits": limits})``), else from :data:`REQUEST_LIMITS`, which the
service's routes bind to their app's limits before the body is validated, else
the defaults. :func:`openapi_with_limits` writes an app's limits into its
OpenAPI document, where the models declare the defaults.
"""

from __future__ import annotations

import copy
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .limits import Limits

#: JSON-schema pattern of a text with at least one non-space character
NOT_BLANK = r"\S"
_DEFAULTS = Limits()
#: the limits request bodies are validated under when no validation context names them (set per request)
REQUEST_LIMITS: ContextVar[Limits] = ContextVar("interank_request_limits", default=_DEFAULTS)
_TEXT_SCHEMA = {"maxLength": _DEFAULTS.max_document_chars, "pattern": NOT_BLANK}


def limits_of(info: ValidationInfo) -> Limits:
    """The limits one validation runs under: ``context={"limits": ...}``, else :data:`REQUEST_LIMITS`."""
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("limits"), Limits):
        return context["limits"]
    return REQUEST_LIMITS.get()


def _check_count(n: int, limits: Limits) -> None:
    if n > limits.max_documents:
        raise ValueError(f"{n} documents; at most {limits.max_documents} per request")


def _check_text(text: str, where: str, limits: Limits) -> None:
    if not text.strip():
        raise ValueError(f"{where} has an empty text")
    if len(text) > limits.max_document_chars:
        raise ValueError(f"{where} is longer than {limits.max_document_chars} characters")


class DocumentIn(BaseModel):
    """A document object: ``text`` plus optional ``title``, ``id``, ``metadata`` and, as in
    Cohere v1, any other string fields (returned untouched, rankable with ``rank_fields``)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str] = Field(init=False)  # type: ignore[assignment]
    text: str | None = Field(None, description="the passage text (required unless rank_fields is given)",
                             json_schema_extra=_TEXT_SCHEMA)
    title: str | None = Field(None, description="shown to the model before the text",
                              json_schema_extra={"maxLength": _DEFAULTS.max_document_chars})
    id: StrictStr | StrictInt | None = Field(None, description="returned untouched")
    metadata: dict[str, Any] | None = Field(None, description="returned untouched")


class QueryRequest(BaseModel):
    """What every rerank request has: a query (no other field than those declared)."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(description="the search query",
                       json_schema_extra={"maxLength": _DEFAULTS.max_query_chars, "pattern": NOT_BLANK})

    @field_validator("query")
    @classmethod
    def _check_query(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError("query is empty")
        limits = limits_of(info)
        if len(value) > limits.max_query_chars:
            raise ValueError(f"query is longer than {limits.max_query_chars} characters")
        return value


class RerankRequest(QueryRequest):
    """Cohere (v1 and v2) and Jina rerank request."""

    model: str | None = Field(None, description="informative; the served model always answers")
    documents: list[str | DocumentIn] = Field(
        description="strings, or objects with 'text' (or the fields named in rank_fields)",
        json_schema_extra={"maxItems": _DEFAULTS.max_documents})
    top_n: StrictInt | None = Field(None, ge=1, description="return only the best top_n results")
    return_documents: StrictBool = Field(False, description="include each document in its result")
    rank_fields: list[str] | None = Field(
        None, description="Cohere v1: the document fields to rank on, in order (default: text)")
    max_tokens_per_doc: StrictInt | None = Field(None, ge=1, description="accepted (Cohere v2); documents are "
                                                 "always fitted to the server's --max-length token budget")
    max_chunks_per_doc: StrictInt | None = Field(None, ge=1, description="accepted (Cohere v1); see "
                                                 "docs/serving.md")
    priority: StrictInt | None = Field(None, description="accepted (Cohere v2); requests are served in "
                                       "arrival order")
    min_score: float | None = Field(
        None, ge=0.0, le=1.0, allow_inf_nan=False,
        description="extension (not Cohere): drop results whose relevance_score is below it, before top_n; the "
                    "response then says whether any result reached it (nothing_relevant). With a calibrated "
                    "model (interank calibrate) the score is P(relevant), so 0.5 keeps what is more likely "
                    "relevant than not")

    @model_validator(mode="after")
    def _check_documents(self, info: ValidationInfo) -> RerankRequest:
        limits = limits_of(info)
        _check_count(len(self.documents), limits)
        if self.rank_fields is not None and not [f for f in self.rank_fields if f.strip()]:
            raise ValueError("rank_fields is empty")
        for i, doc in enumerate(self.documents):
            if isinstance(doc, DocumentIn) and doc.text is None and not self.rank_fields:
                raise ValueError(f"documents[{i}] has no 'text' field (send one, or name the fields to rank "
                                 "in rank_fields)")
            _check_text(ranking_text(doc, self.rank_fields), f"documents[{i}]", limits)
            if isinstance(doc, DocumentIn) and doc.title is not None and len(doc.title) > limits.max_document_chars:
                raise ValueError(f"documents[{i}].title is longer than {limits.max_document_chars} characters")
        return self


class TEIRerankRequest(QueryRequest):
    """Text Embeddings Inference's ``POST /rerank``."""

    texts: list[str] = Field(json_schema_extra={"maxItems": _DEFAULTS.max_documents,
                                                "items": {"type": "string", **_TEXT_SCHEMA}})
    raw_scores: StrictBool = Field(False, description="return the raw score (a classifier's logit, else the "
                                   "log-odds of the score) instead of the score")
    return_text: StrictBool = Field(False, description="include each text in its result")
    truncate: StrictBool | None = Field(None, description="accepted; documents are always fitted to the budget")
    truncation_direction: Literal["Right", "right"] | None = Field(
        None, description="only Right: documents are cut at the end")

    @model_validator(mode="after")
    def _check_texts(self, info: ValidationInfo) -> TEIRerankRequest:
        limits = limits_of(info)
        _check_count(len(self.texts), limits)
        for i, text in enumerate(self.texts):
            _check_text(text, f"texts[{i}]", limits)
        return self


class DocumentOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str | None = None


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    document: DocumentOut | None = None


class Usage(BaseModel):
    search_units: int
    documents: int


class RerankResponse(BaseModel):
    id: str
    model: str
    results: list[RerankResult]
    usage: Usage
    meta: dict[str, Any]
    nothing_relevant: bool | None = Field(
        None, description="extension, present only when the request sent min_score: true when no document "
                          "reached it (results is then empty)")


class TEIRank(BaseModel):
    index: int
    score: float
    text: str | None = None


class ErrorBody(BaseModel):
    message: str = Field(description="what went wrong, for a person")
    detail: Any = None
    request_id: str = Field(description="also in the X-Request-ID header and the server log")


class Health(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: Literal["ok", "loading", "stalled", "failed", "ready", "draining"]


#: where the models' JSON schemas declare a limit: (component, property, [sub-schema,] keyword) -> Limits field
_SCHEMA_LIMITS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("DocumentIn", "text", "maxLength"), "max_document_chars"),
    (("DocumentIn", "title", "maxLength"), "max_document_chars"),
    (("RerankRequest", "query", "maxLength"), "max_query_chars"),
    (("RerankRequest", "documents", "maxItems"), "max_documents"),
    (("TEIRerankRequest", "query", "maxLength"), "max_query_chars"),
    (("TEIRerankRequest", "texts", "maxItems"), "max_documents"),
    (("TEIRerankRequest", "texts", "items", "maxLength"), "max_document_chars"),
)


def openapi_with_limits(openapi: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """A copy of an OpenAPI document generated from these models, declaring ``limits``.

    The models declare the default limits; an app serving other limits
    publishes its own, so that clients and fuzzers see what it accepts. The
    document is copied first: its nested schemas may be the models' own objects.
    """
    openapi = copy.deepcopy(openapi)
    components = openapi.get("components", {}).get("schemas", {})
    for (component, prop, *path), field in _SCHEMA_LIMITS:
        if component not in components:
            continue
        node = components[component]["properties"][prop]
        *parents, keyword = path
        for key in parents:
            node = node[key]
        node[keyword] = getattr(limits, field)
    return openapi


def ranking_text(doc: str | DocumentIn, rank_fields: list[str] | None) -> str:
    """The text the model reads for one request document.

    A string is itself; an object is its ``text``, or with ``rank_fields`` the
    named fields present in it as ``field: value`` lines, in the given order.
    """
    if isinstance(doc, str):
        return doc
    if not rank_fields:
        return doc.text or ""
    fields = {"text": doc.text, "title": doc.title, **(doc.model_extra or {})}
    if doc.id is not None:
        fields["id"] = str(doc.id)
    return "\n".join(f"{name}: {fields[name]}" for name in rank_fields if isinstance(fields.get(name), str))


def document_for_reranker(doc: str | DocumentIn, rank_fields: list[str] | None) -> str | dict[str, Any]:
    """What the reranker receives for one request document (a str, or text and title)."""
    if isinstance(doc, str):
        return doc
    if rank_fields or doc.title is None:
        return ranking_text(doc, rank_fields)
    return {"text": doc.text, "title": doc.title}


def document_echo(doc: str | DocumentIn) -> dict[str, Any]:
    """A request document as it comes back with ``return_documents`` (untouched; strings as ``{"text": ...}``)."""
    if isinstance(doc, str):
        return {"text": doc}
    return doc.model_dump(exclude_unset=True)
