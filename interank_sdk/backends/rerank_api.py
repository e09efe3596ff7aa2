"""A client for rerank services: any Cohere/Jina-, TEI- or vLLM-style ``/rerank`` (or ``/score``) endpoint.

The service runs the model (a cross-encoder behind TEI, infinity or vLLM, a
hosted API, another ``interank serve``); this backend sends each query's
documents and reads back one relevance score per document. Requests go out
concurrently on a bounded pool with timeouts and tenacity retries
(:mod:`interank_sdk.backends.http`); every answer is checked: each document
must come back exactly once with a finite score, or the call raises
:class:`~interank_sdk.errors.BackendError`.

APIs (``api=``):

==============  ======================  =====================================================================
api             default path            request / answer
==============  ======================  =====================================================================
``cohere``      ``/v1/rerank``          ``{model, query, documents, top_n}`` -> ``{results: [{index,
                                        relevance_score}]}`` (Cohere v1, Jina, vLLM, infinity, ``interank serve``)
``cohere-v2``   ``/v2/rerank``          the same, Cohere's v2 path
``tei``         ``/rerank``             ``{query, texts, raw_scores: false}`` -> ``[{index, score}]``
``score``       ``/score``              ``{model, text_1: query, text_2: [...]}`` -> ``{data: [{index,
                                        score}]}`` (vLLM's score API)
==============  ======================  =====================================================================

Example:
    >>> from interank_sdk import Reranker
    >>> reranker = Reranker("BAAI/bge-reranker-base", backend="rerank-api",
    ...                     base_url="http://tei:8080", api="tei")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BackendError, InvalidInputError, check_int
from .base import RemoteRanker
from .http import HTTPTransport

logger = logging.getLogger(__name__)

APIS: dict[str, str] = {"cohere": "/v1/rerank", "cohere-v2": "/v2/rerank", "tei": "/rerank", "score": "/score"}
#: characters per token assumed for budgets (the service counts with its own tokenizer)
CHARS_PER_TOKEN = 4.0


class RerankAPIBackend(RemoteRanker):
    """Scores from a remote rerank service.

    Args:
        model: the model name the service knows (sent as ``model``; TEI ignores it).
        base_url: the service's URL (``http://host:8080``), without the endpoint path.
        api: ``"cohere"`` (default), ``"cohere-v2"``, ``"tei"`` or ``"score"`` (see the module docstring).
        path: the endpoint path, when it differs from the API's default.
        api_key: bearer token; default ``$INTERANK_BACKEND_API_KEY`` (never logged or shown; not
            ``$INTERANK_API_KEY``, the key ``interank serve`` accepts).
        max_documents_per_request: split larger document lists into several requests
            (services cap client batches: TEI's default is 1000 ... or less).
        max_concurrency, timeout, max_retries, backoff, max_backoff, headers: transport
            settings (:class:`~interank_sdk.backends.http.HTTPTransport`).
        show_progress: progress bar over requests.
    """

    name = "rerank-api"

    def __init__(
        self,
        model: Any,
        *,
        base_url: str | None = None,
        api: str = "cohere",
        path: str | None = None,
        api_key: str | None = None,
        max_documents_per_request: int = 1000,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        headers: dict[str, str] | None = None,
        show_progress: bool = False,
    ) -> None:
        super().__init__()
        if api not in APIS:
            raise InvalidInputError(f"api must be one of {sorted(APIS)}, got {api!r}")
        if not base_url or not isinstance(base_url, str):
            raise InvalidInputError("the rerank-api backend needs base_url= (e.g. 'http://127.0.0.1:8080')")
        check_int("max_documents_per_request", max_documents_per_request)
        self.model_name = str(model)
        self.api = api
        self.path = path or APIS[api]
        self.max_documents_per_request = max_documents_per_request
        self._http = HTTPTransport(base_url, api_key=api_key, headers=headers, timeout=timeout,
                                   max_retries=max_retries, backoff=backoff, max_backoff=max_backoff,
                                   max_concurrency=max_concurrency, show_progress=show_progress)
        self.base_url = self._http.base_url
        logger.info("rerank-api backend: %s at %s%s (%s)", self.model_name, self.base_url, self.path, api)

    def __repr__(self) -> str:
        return (f"RerankAPIBackend(model={self.model_name!r}, base_url={self.base_url!r}, api={self.api!r}, "
                f"api_key={'***' if self._http.has_key else None!r})")

    @property
    def requests_sent(self) -> int:
        return self._http.requests_sent

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------- text/tokens
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """An estimate (the service tokenizes with its own model's tokenizer)."""
        return [max(1, round(len(t) / CHARS_PER_TOKEN)) if t else 0 for t in texts]

    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        if max_tokens < 1:
            raise InvalidInputError("max_tokens must be >= 1")
        size = int(max_tokens * CHARS_PER_TOKEN)
        if len(text) <= size:
            return [text]
        step = max(1, int((max_tokens - min(overlap, max_tokens - 1)) * CHARS_PER_TOKEN))
        return [text[i:i + size] for i in range(0, max(1, len(text) - size + step), step)]

    # ------------------------------------------------------------------ scores
    def _payload(self, query: str, documents: Sequence[str]) -> dict[str, Any]:
        if self.api == "tei":
            return {"query": query, "texts": list(documents), "raw_scores": False, "return_text": False}
        if self.api == "score":
            return {"model": self.model_name, "text_1": query, "text_2": list(documents)}
        return {"model": self.model_name, "query": query, "documents": list(documents), "top_n": len(documents),
                "return_documents": False}

    def _parse(self, answer: Any, n: int) -> np.ndarray:
        if self.api == "tei":
            rows, key = answer, "score"
        elif self.api == "score":
            rows, key = (answer or {}).get("data") if isinstance(answer, dict) else None, "score"
        else:
            rows, key = (answer or {}).get("results") if isinstance(answer, dict) else None, "relevance_score"
        if not isinstance(rows, list):
            raise BackendError(f"malformed answer from {self.base_url}{self.path}: {str(answer)[:200]}")
        scores = np.full(n, np.nan)
        for row in rows:
            try:
                index, value = int(row["index"]), float(row[key])
            except (KeyError, TypeError, ValueError):
                raise BackendError(f"malformed result from {self.base_url}{self.path}: {str(row)[:200]}") from None
            if not 0 <= index < n or not math.isnan(scores[index]):
                raise BackendError(f"{self.base_url}{self.path} returned index {index} twice or out of range 0..{n - 1}")
            if not math.isfinite(value):
                raise BackendError(f"{self.base_url}{self.path} returned a non-finite score for document {index}")
            scores[index] = value
        if np.isnan(scores).any():
            missing = [int(i) for i in np.flatnonzero(np.isnan(scores))[:10]]
            raise BackendError(f"{self.base_url}{self.path} returned no score for documents {missing}")
        return scores

    def rerank_scores(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        """One score array per ``(query, documents)`` request, in document order; requests run concurrently."""
        chunks: list[tuple[int, int, str, list[str]]] = []
        for r, (query, docs) in enumerate(requests):
            for start in range(0, len(docs), self.max_documents_per_request):
                chunks.append((r, start, query, list(docs[start:start + self.max_documents_per_request])))

        def one(chunk: tuple[int, int, str, list[str]]) -> np.ndarray:
            _, _, query, docs = chunk
            return self._parse(self._http.post(self.path, self._payload(query, docs)), len(docs))

        if chunks:
            self.forward_passes += 1
        results = self._http.map(one, chunks, "reranking")
        out = [np.zeros(len(docs)) for _, docs in requests]
        for (r, start, _, docs), scores in zip(chunks, results):
            out[r][start:start + len(docs)] = scores
        return out

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "kind": self.kind, "model": self.model_name, "base_url": self.base_url,
                "api": self.api, "path": self.path, "api_key": "set" if self._http.has_key else None}


__all__ = ["APIS", "RerankAPIBackend"]
