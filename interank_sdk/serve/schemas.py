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
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

#: JSON-schema pattern of a text with at least one non-space character
NOT_BLANK = r"\S"


@dataclass(frozen=True)
class Limits:
    """Per-request limits (422 or 413 above them)."""

    max_documents: int
    max_document_chars: int
    max_query_chars: int
    max_body_bytes: int
    max_request_tokens: int

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def build_schemas(limits: Limits) -> SimpleNamespace:
    """The pydantic models for these limits (the limits appear in the OpenAPI schema too)."""
    from pydantic import (
        BaseModel,
        ConfigDict,
        Field,
        StrictBool,
        StrictInt,
        StrictStr,
        field_validator,
        model_validator,
    )

    text_schema = {"maxLength": limits.max_document_chars, "pattern": NOT_BLANK}

    def check_count(n: int) -> None:
        if n > limits.max_documents:
            raise ValueError(f"{n} documents; at most {limits.max_documents} per request")

    def check_text(text: str, where: str) -> None:
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
                                 json_schema_extra=text_schema)
        title: str | None = Field(None, description="shown to the model before the text",
                                  json_schema_extra={"maxLength": limits.max_document_chars})
        id: StrictStr | StrictInt | None = Field(None, description="returned untouched")
        metadata: dict[str, Any] | None = Field(None, description="returned untouched")

    class QueryRequest(BaseModel):
        """What every rerank request has: a query (no other field than those declared)."""

        model_config = ConfigDict(extra="forbid")
        query: str = Field(description="the search query",
                           json_schema_extra={"maxLength": limits.max_query_chars, "pattern": NOT_BLANK})

        @field_validator("query")
        @classmethod
        def _check_query(cls, value: str) -> str:
            if not value.strip():
                raise ValueError("query is empty")
            if len(value) > limits.max_query_chars:
                raise ValueError(f"query is longer than {limits.max_query_chars} characters")
            return value

    class RerankRequest(QueryRequest):
        """Cohere (v1 and v2) and Jina rerank request."""

        model: str | None = Field(None, description="informative; the served model always answers")
        documents: list[str | DocumentIn] = Field(
            description="strings, or objects with 'text' (or the fields named in rank_fields)",
            json_schema_extra={"maxItems": limits.max_documents})
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

        @model_validator(mode="after")
        def _check_documents(self) -> RerankRequest:
            check_count(len(self.documents))
            if self.rank_fields is not None and not [f for f in self.rank_fields if f.strip()]:
                raise ValueError("rank_fields is empty")
            for i, doc in enumerate(self.documents):
                if isinstance(doc, DocumentIn) and doc.text is None and not self.rank_fields:
                    raise ValueError(f"documents[{i}] has no 'text' field (send one, or name the fields to rank "
                                     "in rank_fields)")
                check_text(ranking_text(doc, self.rank_fields), f"documents[{i}]")
                if isinstance(doc, DocumentIn) and doc.title is not None and len(doc.title) > limits.max_document_chars:
                    raise ValueError(f"documents[{i}].title is longer than {limits.max_document_chars} characters")
            return self

    class TEIRerankRequest(QueryRequest):
        """Text Embeddings Inference's ``POST /rerank``."""

        texts: list[str] = Field(json_schema_extra={"maxItems": limits.max_documents,
                                                    "items": {"type": "string", **text_schema}})
        raw_scores: StrictBool = Field(False, description="return the raw score (a classifier's logit, else the "
                                       "log-odds of the score) instead of the score")
        return_text: StrictBool = Field(False, description="include each text in its result")
        truncate: StrictBool | None = Field(None, description="accepted; documents are always fitted to the budget")
        truncation_direction: Literal["Right", "right"] | None = Field(
            None, description="only Right: documents are cut at the end")

        @model_validator(mode="after")
        def _check_texts(self) -> TEIRerankRequest:
            check_count(len(self.texts))
            for i, text in enumerate(self.texts):
                check_text(text, f"texts[{i}]")
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

    return SimpleNamespace(DocumentIn=DocumentIn, RerankRequest=RerankRequest, TEIRerankRequest=TEIRerankRequest,
                           RerankResponse=RerankResponse, TEIRank=TEIRank, ErrorBody=ErrorBody, Health=Health)


def ranking_text(doc: Any, rank_fields: list[str] | None) -> str:
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


def document_for_reranker(doc: Any, rank_fields: list[str] | None) -> Any:
    """What the reranker receives for one request document (a str, or text and title)."""
    if isinstance(doc, str):
        return doc
    if rank_fields or doc.title is None:
        return ranking_text(doc, rank_fields)
    return {"text": doc.text, "title": doc.title}


def document_echo(doc: Any) -> dict[str, Any]:
    """A request document as it comes back with ``return_documents`` (untouched; strings as ``{"text": ...}``)."""
    if isinstance(doc, str):
        return {"text": doc}
    return doc.model_dump(exclude_unset=True)
