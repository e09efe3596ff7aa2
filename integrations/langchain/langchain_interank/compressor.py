"""InteRank reranker as a LangChain document compressor.

The compressor only translates types: LangChain documents go to
:meth:`interank_sdk.Reranker.rerank` (or ``arerank``) in one batch, and the
ranked results come back as new :class:`~langchain_core.documents.Document`
objects carrying the reranker's score in their metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor
from langchain_core.documents import Document as LCDocument
from pydantic import ConfigDict, Field, PrivateAttr

from interank_sdk import BaseReranker, Document, RankedDocument
from interank_sdk.integration import EXPLANATION_KEY, resolve_reranker
from interank_sdk.types import check_min_score

logger = logging.getLogger(__name__)


#: metadata key of the reranker's score on the returned documents
SCORE_KEY = "relevance_score"


class InteRankCompressor(BaseDocumentCompressor):
    """Rerank retrieved documents with an InteRank reranker (a small language model).

    Use it as the ``base_compressor`` of a ``ContextualCompressionRetriever``.
    Every document is scored in one batched call to the reranker. The result
    is a list of **new** documents, best first, each with the original
    ``page_content``, ``id`` and metadata plus ``metadata["relevance_score"]``
    (in ``[0, 1]`` for the built-in strategies) and, when asked,
    ``metadata["relevance_explanation"]``. The caller's documents are never
    modified. A string ``metadata["title"]`` is shown to the model as the
    document's title.

    Args:
        model: what :class:`interank_sdk.Reranker` loads: a hub id, a local
            folder, a ``.gguf`` file or a LoRA adapter folder. Leave it out when
            passing ``reranker``.
        reranker: a ready :class:`interank_sdk.Reranker` (or :class:`interank_sdk.Cascade`), to share one loaded
            model between several compressors (or with other code).
        top_n: how many documents to return (``None``: all that pass the threshold).
        score_threshold: drop documents whose reranker score is below this value
            (before ``top_n``; the reranker's ``min_score``). On a calibrated
            reranker the score is P(relevant), so ``0.5`` keeps what is more
            likely relevant than not; when no document reaches it the compressor
            returns no documents (and logs it): the "nothing here is relevant"
            answer a RAG chain can act on.
        explain: ``False``; ``True`` to explain and score every document with
            the ``reasoning`` strategy; an int ``k`` to explain only the best
            ``k`` (a cascade, see :meth:`interank_sdk.Reranker.rerank`).
        **reranker_kwargs: passed to :class:`interank_sdk.Reranker` when it is
            built from ``model`` (``strategy``, ``device``, ``dtype``,
            ``batch_size``, ``max_length``, ``local_files_only``...).

    Example:
        >>> from langchain_classic.retrievers import ContextualCompressionRetriever
        >>> from langchain_interank import InteRankCompressor
        >>> retriever = ContextualCompressionRetriever(
        ...     base_compressor=InteRankCompressor(model="Qwen/Qwen2.5-0.5B-Instruct", top_n=5),
        ...     base_retriever=vector_store.as_retriever(search_kwargs={"k": 20}),
        ... )  # doctest: +SKIP
        >>> retriever.invoke("how do plants make food?")  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model: str = Field(description="Model the reranker was loaded from (hub id, folder, .gguf or adapter).")
    top_n: Optional[int] = Field(default=5, description="Number of documents to return (None: all).")
    score_threshold: Optional[float] = Field(default=None, description="Drop documents scored below this.")
    explain: Union[bool, int] = Field(
        default=False, description="False, True (explain every document) or k (explain the best k)."
    )
    reranker_kwargs: dict[str, Any] = Field(default_factory=dict, description="Options passed to interank_sdk.Reranker.")

    _reranker: BaseReranker = PrivateAttr()

    def __init__(
        self,
        model: Optional[Union[str, Path]] = None,
        *,
        reranker: Optional[BaseReranker] = None,
        top_n: Optional[int] = 5,
        score_threshold: Optional[float] = None,
        explain: Union[bool, int] = False,
        **reranker_kwargs: Any,
    ) -> None:
        check_min_score(score_threshold)
        reranker = resolve_reranker("InteRankCompressor", model, reranker, reranker_kwargs, top_n=top_n, explain=explain)
        super().__init__(
            model=str(model) if model is not None else str(reranker.model_name),
            top_n=top_n,
            score_threshold=score_threshold,
            explain=explain,
            reranker_kwargs=dict(reranker_kwargs),
        )
        self._reranker = reranker

    @property
    def reranker(self) -> BaseReranker:
        """The :class:`interank_sdk.Reranker` that scores the documents (shareable)."""
        return self._reranker

    def compress_documents(
        self,
        documents: Sequence[LCDocument],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[LCDocument]:
        """Rerank ``documents`` for ``query``; new documents, best first.

        Args:
            documents: the retrieved documents (not modified).
            query: the search query.
            callbacks: accepted for the LangChain interface; unused.

        Returns:
            at most ``top_n`` new documents scored at least ``score_threshold``.

        Raises:
            InvalidInputError: empty query, or a document with empty content.
        """
        if not documents:
            return []
        ranked = self._reranker.rerank(query, self._inputs(documents), top_k=self.top_n, explain=self.explain,
                                       min_score=self.score_threshold)
        return self._outputs(documents, ranked)

    async def acompress_documents(
        self,
        documents: Sequence[LCDocument],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[LCDocument]:
        """Async :meth:`compress_documents` (awaits :meth:`interank_sdk.Reranker.arerank`)."""
        if not documents:
            return []
        ranked = await self._reranker.arerank(query, self._inputs(documents), top_k=self.top_n, explain=self.explain,
                                              min_score=self.score_threshold)
        return self._outputs(documents, ranked)

    @staticmethod
    def _inputs(documents: Sequence[LCDocument]) -> list[Document]:
        out = []
        for doc in documents:
            title = doc.metadata.get("title")
            out.append(
                Document(
                    text=doc.page_content,
                    title=title if isinstance(title, str) and title.strip() else None,
                    id=doc.id,
                )
            )
        return out

    def _outputs(self, documents: Sequence[LCDocument], ranked: Sequence[RankedDocument]) -> list[LCDocument]:
        if getattr(ranked, "nothing_relevant", None):
            logger.info("no document reached score_threshold=%s: returning none", self.score_threshold)
        out: list[LCDocument] = []
        for r in ranked:
            original = documents[r.index]
            metadata = {**original.metadata, SCORE_KEY: float(r.score)}
            if r.explanation is not None:
                metadata[EXPLANATION_KEY] = r.explanation
            out.append(LCDocument(page_content=original.page_content, metadata=metadata, id=original.id))
        return out
