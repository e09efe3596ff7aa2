"""InteRank reranker as a LlamaIndex node postprocessor.

The postprocessor only translates types: LlamaIndex nodes go to
:meth:`interank_sdk.Reranker.rerank` (or ``arerank``) in one batch, and the
ranked results come back as new :class:`~llama_index.core.schema.NodeWithScore`
objects whose ``score`` is the reranker's score.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from interank_sdk import BaseReranker, Document, RankedDocument
from interank_sdk.errors import InvalidInputError
from interank_sdk.integration import EXPLANATION_KEY, resolve_reranker
from interank_sdk.types import check_min_score

dispatcher = get_dispatcher(__name__)
logger = logging.getLogger(__name__)

#: node metadata key of the first-stage score (``keep_retrieval_score=True``)
RETRIEVAL_SCORE_KEY = "retrieval_score"


class InteRankRerank(BaseNodePostprocessor):
    """Rerank retrieved nodes with an InteRank reranker (a small language model).

    Every node is scored in one batched call to the reranker. The returned
    nodes are new :class:`NodeWithScore` objects, best first, whose ``score``
    is the reranker's score (in ``[0, 1]`` for the built-in strategies, so
    ``score_threshold`` is meaningful). The caller's nodes are never modified:
    when metadata is added (``explain``, ``keep_retrieval_score``), the node is
    copied first.

    Args:
        model: what :class:`interank_sdk.Reranker` loads: a hub id, a local
            folder, a ``.gguf`` file or a LoRA adapter folder. Leave it out when
            passing ``reranker``.
        reranker: a ready :class:`interank_sdk.Reranker` (or :class:`interank_sdk.Cascade`), to share one loaded
            model between several postprocessors (or with other code).
        top_n: how many nodes to return (``None``: all that pass the threshold).
        score_threshold: drop nodes whose reranker score is below this value
            (before ``top_n``; the reranker's ``min_score``). On a calibrated
            reranker the score is P(relevant); when no node reaches it the
            postprocessor returns no nodes (and logs it), so the query engine
            can answer that nothing retrieved is relevant.
        similarity_cutoff: the same threshold under the name LlamaIndex's
            ``SimilarityPostprocessor`` gives it (pass one or the other).
        explain: ``False``; ``True`` to explain and score every node with the
            ``reasoning`` strategy; an int ``k`` to explain only the best ``k``
            (a cascade, see :meth:`interank_sdk.Reranker.rerank`). The
            explanation goes to ``node.metadata["relevance_explanation"]``.
        keep_retrieval_score: copy the first-stage score to
            ``node.metadata["retrieval_score"]``.
        metadata_mode: which metadata is shown to the reranker with the node
            text (``get_content(metadata_mode=...)``); default ``EMBED``, as
            LlamaIndex's own rerankers.
        callback_manager: LlamaIndex callback manager (query engines set it).
        **reranker_kwargs: passed to :class:`interank_sdk.Reranker` when it is
            built from ``model`` (``strategy``, ``device``, ``dtype``,
            ``batch_size``, ``max_length``, ``local_files_only``...).

    Example:
        >>> from llama_index.postprocessor.interank_rerank import InteRankRerank
        >>> rerank = InteRankRerank(model="Qwen/Qwen2.5-0.5B-Instruct", top_n=5)  # doctest: +SKIP
        >>> engine = index.as_query_engine(similarity_top_k=20, node_postprocessors=[rerank])  # doctest: +SKIP
    """

    model: str = Field(description="Model the reranker was loaded from (hub id, folder, .gguf or adapter).")
    top_n: Optional[int] = Field(default=5, description="Number of nodes to return (None: all).")
    score_threshold: Optional[float] = Field(default=None, description="Drop nodes scored below this.")
    explain: Union[bool, int] = Field(
        default=False, description="False, True (explain every node) or k (explain the best k)."
    )
    keep_retrieval_score: bool = Field(
        default=False, description="Keep the first-stage score in metadata['retrieval_score']."
    )
    metadata_mode: MetadataMode = Field(
        default=MetadataMode.EMBED, description="Metadata shown to the reranker with the node text."
    )
    reranker_kwargs: Dict[str, Any] = Field(
        default_factory=dict, description="Options passed to interank_sdk.Reranker."
    )

    _reranker: BaseReranker = PrivateAttr()

    def __init__(
        self,
        model: Optional[Union[str, Path]] = None,
        *,
        reranker: Optional[BaseReranker] = None,
        top_n: Optional[int] = 5,
        score_threshold: Optional[float] = None,
        similarity_cutoff: Optional[float] = None,
        explain: Union[bool, int] = False,
        keep_retrieval_score: bool = False,
        metadata_mode: MetadataMode = MetadataMode.EMBED,
        callback_manager: Optional[CallbackManager] = None,
        **reranker_kwargs: Any,
    ) -> None:
        if similarity_cutoff is not None:
            if score_threshold is not None and score_threshold != similarity_cutoff:
                raise InvalidInputError("pass score_threshold or similarity_cutoff, not two different thresholds")
            score_threshold = similarity_cutoff
        check_min_score(score_threshold)
        reranker = resolve_reranker("InteRankRerank", model, reranker, reranker_kwargs, top_n=top_n, explain=explain)
        super().__init__(
            model=str(model) if model is not None else str(reranker.model_name),
            top_n=top_n,
            score_threshold=score_threshold,
            explain=explain,
            keep_retrieval_score=keep_retrieval_score,
            metadata_mode=metadata_mode,
            reranker_kwargs=dict(reranker_kwargs),
            callback_manager=callback_manager or CallbackManager([]),
        )
        self._reranker = reranker

    @classmethod
    def class_name(cls) -> str:
        return "InteRankRerank"

    @property
    def reranker(self) -> BaseReranker:
        """The :class:`interank_sdk.Reranker` that scores the nodes (shareable)."""
        return self._reranker

    # ------------------------------------------------------------------ sync
    def _postprocess_nodes(
        self,
        nodes: List[NodeWithScore],
        query_bundle: Optional[QueryBundle] = None,
    ) -> List[NodeWithScore]:
        query = self._query(query_bundle)
        if not nodes:
            return []
        documents = self._documents(nodes)
        dispatcher.event(self._start_event(query_bundle, nodes))
        with self.callback_manager.event(CBEventType.RERANKING, payload=self._payload(query, nodes)) as event:
            ranked = self._reranker.rerank(query, documents, top_k=self.top_n, explain=self.explain,
                                           min_score=self.score_threshold)
            new_nodes = self._to_nodes(nodes, ranked)
            event.on_end(payload={EventPayload.NODES: new_nodes})
        dispatcher.event(ReRankEndEvent(nodes=new_nodes))
        return new_nodes

    # ----------------------------------------------------------------- async
    async def _apostprocess_nodes(
        self,
        nodes: List[NodeWithScore],
        query_bundle: Optional[QueryBundle] = None,
    ) -> List[NodeWithScore]:
        query = self._query(query_bundle)
        if not nodes:
            return []
        documents = self._documents(nodes)
        dispatcher.event(self._start_event(query_bundle, nodes))
        with self.callback_manager.event(CBEventType.RERANKING, payload=self._payload(query, nodes)) as event:
            ranked = await self._reranker.arerank(query, documents, top_k=self.top_n, explain=self.explain,
                                                  min_score=self.score_threshold)
            new_nodes = self._to_nodes(nodes, ranked)
            event.on_end(payload={EventPayload.NODES: new_nodes})
        dispatcher.event(ReRankEndEvent(nodes=new_nodes))
        return new_nodes

    # --------------------------------------------------------------- helpers
    @staticmethod
    def _query(query_bundle: Optional[QueryBundle]) -> str:
        if query_bundle is None:
            raise InvalidInputError(
                "InteRankRerank needs the query: call postprocess_nodes(nodes, query_bundle=...) or query_str=..."
            )
        return query_bundle.query_str

    def _documents(self, nodes: Sequence[NodeWithScore]) -> List[Document]:
        return [
            Document(text=n.node.get_content(metadata_mode=self.metadata_mode), id=n.node.node_id, score=n.score)
            for n in nodes
        ]

    def _start_event(self, query_bundle: Optional[QueryBundle], nodes: List[NodeWithScore]) -> ReRankStartEvent:
        top_n = len(nodes) if self.top_n is None else self.top_n
        return ReRankStartEvent(query=query_bundle, nodes=nodes, top_n=top_n, model_name=self.model)

    def _payload(self, query: str, nodes: List[NodeWithScore]) -> Dict[EventPayload, Any]:
        return {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self.model,
            EventPayload.QUERY_STR: query,
            EventPayload.TOP_K: len(nodes) if self.top_n is None else self.top_n,
        }

    def _to_nodes(self, nodes: Sequence[NodeWithScore], ranked: Sequence[RankedDocument]) -> List[NodeWithScore]:
        if getattr(ranked, "nothing_relevant", None):
            logger.info("no node reached score_threshold=%s: returning none", self.score_threshold)
        out: List[NodeWithScore] = []
        for r in ranked:
            original = nodes[r.index]
            node = original.node
            extra: Dict[str, Any] = {}
            if self.keep_retrieval_score:
                extra[RETRIEVAL_SCORE_KEY] = original.score
            if r.explanation is not None:
                extra[EXPLANATION_KEY] = r.explanation
            if extra:
                # copy: the caller's node (and its metadata dict) stays as it was;
                # the added keys are for the application, not for the generator or the embedder
                node = node.model_copy(
                    update={
                        "metadata": {**node.metadata, **extra},
                        "excluded_llm_metadata_keys": _union(node.excluded_llm_metadata_keys, extra),
                        "excluded_embed_metadata_keys": _union(node.excluded_embed_metadata_keys, extra),
                    }
                )
            out.append(NodeWithScore(node=node, score=float(r.score)))
        return out


def _union(keys: List[str], extra: Dict[str, Any]) -> List[str]:
    return list(keys) + [k for k in extra if k not in keys]
