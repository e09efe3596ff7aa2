"""The one public entry point: :class:`Reranker`."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import Backend, create_backend
from .errors import InvalidInputError
from .prompts import format_passage
from .strategies import Strategy, get_strategy
from .strategies.base import Judgment
from .types import Document, DocumentLike, RankedDocument, RerankResult, RerankStats, to_document

logger = logging.getLogger(__name__)

#: file in a model or adapter folder that records how it was trained to be read
MODEL_CARD_FILE = "interank.json"
#: strategy for models without an ``interank.json``: query likelihood is the
#: zero-shot strategy that works for instruct models not trained as rerankers
DEFAULT_STRATEGY = "qlm"
#: the least passage budget (tokens) a query may leave in ``max_length``
MIN_PASSAGE_TOKENS = 16


@dataclass
class _Item:
    """One (query, document window) pair to score."""

    query_pos: int
    doc_pos: int
    window: int
    passage: str


@dataclass
class _Prepared:
    query: str
    docs: list[Document]
    truncated: list[bool]
    num_windows: list[int]


def model_card(model: Any) -> dict[str, Any]:
    """The ``interank.json`` of a local model or adapter folder, or ``{}``."""
    try:
        path = Path(str(model)).expanduser() / MODEL_CARD_FILE
        if path.is_file():
            return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable %s: %s", MODEL_CARD_FILE, exc)
    return {}


class Reranker:
    """Reorder a query's candidate documents by relevance with a small language model.

    Args:
        model: a hub id (``"Qwen/Qwen2.5-0.5B-Instruct"``), a local model folder,
            a ``.gguf`` file, a LoRA adapter folder (base model read from its
            ``adapter_config.json``), or a ready :class:`~interank_sdk.backends.Backend`.
        backend: ``"auto"``/``"hf"`` (transformers in process), ``"vllm"`` or ``"openai"``.
        strategy: ``"auto"``, ``"qlm"``, ``"yesno"``, ``"graded"`` or ``"reasoning"``. ``"auto"``
            uses the strategy recorded in the model folder's ``interank.json``
            (written by ``interank-train``), else ``"qlm"``, the one that ranks
            well zero-shot with instruct models that were not trained as rerankers.
        prompt_version: version of the strategy's prompt template (default: latest).
        device: ``"auto"`` (cuda if present, else cpu), ``"cpu"``, ``"cuda"``...
        dtype: ``"auto"`` (bf16 where the hardware runs it natively, else fp32) or a dtype name.
        quantization: ``None``; ``"4bit"`` (NF4) or ``"8bit"`` via bitsandbytes;
            ``"int8"``: the CPU int8 path (int8 weights and per-token activations,
            about 2x faster than fp32 on CPUs with AVX512-VNNI/AMX; scores move
            by a few hundredths).
        max_length: token budget of one prompt; the query is never truncated,
            documents are cut (or windowed) to fit.
        batch_size: sequences per forward pass.
        long_documents: ``"truncate"`` (keep the first tokens that fit) or
            ``"window"`` (score overlapping windows, keep the best).
        window_overlap: tokens shared by consecutive windows.
        max_new_tokens: token budget of one explanation (``reasoning`` strategy, ``explain``).
        fusion_weight: weight of the first-stage score (``Document.score``) in a
            min-max normalised interpolation with the model score; 0 disables.
        local_files_only: never contact the model hub.
        trust_remote_code: allow model code from the hub (off unless asked).
        show_progress: progress bars over batches.
        **backend_kwargs: passed to the backend (``revision``, ``cache_dir``,
            ``base_url``...).

    Example:
        >>> from interank_sdk import Reranker
        >>> reranker = Reranker("Qwen/Qwen2.5-0.5B-Instruct", strategy="qlm")  # doctest: +SKIP
        >>> ranked = reranker.rerank(
        ...     "how do plants make food?",
        ...     ["Photosynthesis turns light into chemical energy.", "The Eiffel Tower is in Paris."],
        ... )  # doctest: +SKIP
        >>> [(r.index, round(r.score, 3)) for r in ranked]  # doctest: +SKIP
        [(0, 0.212), (1, 0.041)]
    """

    def __init__(
        self,
        model: str | Path | Backend,
        *,
        backend: str = "auto",
        strategy: str = "auto",
        prompt_version: str | None = None,
        device: str = "auto",
        dtype: Any = "auto",
        quantization: str | None = None,
        max_length: int = 512,
        batch_size: int = 16,
        long_documents: str = "truncate",
        window_overlap: int = 64,
        fusion_weight: float = 0.0,
        max_new_tokens: int = 160,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        show_progress: bool = False,
        **backend_kwargs: Any,
    ) -> None:
        if long_documents not in ("truncate", "window"):
            raise InvalidInputError(f"long_documents must be 'truncate' or 'window', got {long_documents!r}")
        if not 0.0 <= fusion_weight <= 1.0:
            raise InvalidInputError(f"fusion_weight must be in [0, 1], got {fusion_weight}")
        if max_length < MIN_PASSAGE_TOKENS * 2:
            raise InvalidInputError(f"max_length must be >= {MIN_PASSAGE_TOKENS * 2}, got {max_length}")
        if window_overlap < 0:
            raise InvalidInputError("window_overlap must be >= 0")
        card = {} if isinstance(model, Backend) else model_card(model)
        if strategy == "auto":
            strategy = card.get("strategy", DEFAULT_STRATEGY)
            prompt_version = prompt_version or card.get("prompt_version")
        self.max_new_tokens = max_new_tokens
        options = {"max_new_tokens": max_new_tokens} if strategy == "reasoning" else {}
        self.strategy: Strategy = get_strategy(strategy, prompt_version, **options)
        self._reasoning_strategy: Strategy | None = None
        self._reasoning_prompt_version = prompt_version if strategy == "reasoning" else None
        if isinstance(model, Backend):
            self.backend = model
        else:
            hf_only = {"device": device, "dtype": dtype, "quantization": quantization, "batch_size": batch_size,
                       "local_files_only": local_files_only, "trust_remote_code": trust_remote_code,
                       "show_progress": show_progress}
            self.backend = create_backend(backend, model, **hf_only, **backend_kwargs)
        self.model_name = self.backend.model_name
        self.max_length = max_length
        self.long_documents = long_documents
        self.window_overlap = window_overlap
        self.fusion_weight = fusion_weight
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"Reranker(model={self.model_name!r}, backend={self.backend.name!r}, "
            f"strategy={self.strategy.name!r}, prompt_version={self.strategy.version!r})"
        )

    # ------------------------------------------------------------------ public
    def rerank(
        self,
        query: str,
        documents: Sequence[DocumentLike],
        top_k: int | None = None,
        explain: bool | int = False,
    ) -> RerankResult:
        """Rerank ``documents`` for ``query``, best first.

        Args:
            query: the search query (non-empty string; never truncated).
            documents: ``str``, :class:`Document`, or dicts with ``text`` and
                optional ``title``, ``id``, ``metadata``, ``score``.
            top_k: return only the best ``top_k`` (default: all).
            explain: ``False`` (default) scores with the reranker's strategy;
                ``True`` explains and scores every document with the
                ``reasoning`` strategy; an int ``k`` is a cascade: every
                document is scored with the fast strategy, then the best ``k``
                are explained, rescored and reordered by the ``reasoning``
                strategy (the others keep their fast scores and order below
                them). ``RankedDocument.strategy`` says which scored each one.

        Returns:
            a :class:`RerankResult` (a list of :class:`RankedDocument`, best
            first, ties in input order) with a ``stats`` attribute.

        Raises:
            InvalidInputError: empty or non-string query, ``None`` or non-text
                documents, bad ``top_k``.
        """
        return self.rerank_batch([query], [documents], top_k=top_k, explain=explain)[0]

    def score(self, query: str, documents: Sequence[DocumentLike]) -> list[float]:
        """Relevance scores of ``documents`` for ``query``, in input order (no sorting).

        The pair-scoring call for code that needs numbers rather than a ranking
        (teachers, evaluation, thresholds): the same scores :meth:`rerank` would
        return, as a list aligned with ``documents``.

        Example:
            >>> reranker.score("how do plants make food?", ["Photosynthesis ...", "Paris ..."])  # doctest: +SKIP
            [0.91, 0.02]
        """
        return self.score_batch([query], [documents])[0]

    def score_batch(
        self, queries: Sequence[str], documents_per_query: Sequence[Sequence[DocumentLike]]
    ) -> list[list[float]]:
        """:meth:`score` for several queries at once (their pairs share forward passes)."""
        results = self.rerank_batch(queries, documents_per_query)
        out: list[list[float]] = []
        for result in results:
            scores = [0.0] * len(result)
            for r in result:
                scores[r.index] = r.score
            out.append(scores)
        return out

    async def arerank(
        self,
        query: str,
        documents: Sequence[DocumentLike],
        top_k: int | None = None,
        explain: bool | int = False,
    ) -> RerankResult:
        """Async :meth:`rerank`: runs in a worker thread, so the event loop is never blocked."""
        return await asyncio.to_thread(self.rerank, query, documents, top_k, explain)

    def rerank_batch(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[DocumentLike]],
        top_k: int | None = None,
        explain: bool | int = False,
    ) -> list[RerankResult]:
        """Rerank several queries at once; pairs of all queries share forward passes.

        Args:
            queries: the queries.
            documents_per_query: one list of documents per query.
            top_k: keep the best ``top_k`` of each query.
            explain: as in :meth:`rerank`.

        Returns:
            one :class:`RerankResult` per query, in order.
        """
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise InvalidInputError("queries must be a list of strings")
        if isinstance(documents_per_query, str) or not isinstance(documents_per_query, Sequence):
            raise InvalidInputError("documents_per_query must be a list of document lists")
        if len(queries) != len(documents_per_query):
            raise InvalidInputError(
                f"got {len(queries)} queries but {len(documents_per_query)} document lists"
            )
        _check_top_k(top_k)
        _check_explain(explain)
        prepared = [self._validate(q, docs) for q, docs in zip(queries, documents_per_query)]
        with self._lock:
            return self._score(prepared, top_k, explain)

    async def arerank_batch(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[DocumentLike]],
        top_k: int | None = None,
        explain: bool | int = False,
    ) -> list[RerankResult]:
        """Async :meth:`rerank_batch` (worker thread)."""
        return await asyncio.to_thread(self.rerank_batch, queries, documents_per_query, top_k, explain)

    # ----------------------------------------------------------------- helpers
    def _validate(self, query: Any, documents: Any) -> _Prepared:
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
        if not query.strip():
            raise InvalidInputError("query is empty")
        if documents is None or isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
            raise InvalidInputError(
                f"documents must be a list of documents, got {type(documents).__name__}"
            )
        docs = [to_document(d, i) for i, d in enumerate(documents)]
        return _Prepared(query=query, docs=docs, truncated=[False] * len(docs), num_windows=[1] * len(docs))

    def _passages(self, prep: _Prepared, strategy: Strategy, doc_positions: Sequence[int]) -> dict[int, list[str]]:
        """Each document as one or more passages that fit the token budget (marks truncation on ``prep``)."""
        budget = self.max_length - strategy.reserved_tokens(self.backend, prep.query)
        if budget < MIN_PASSAGE_TOKENS:
            raise InvalidInputError(
                f"the query leaves {budget} tokens for the document within max_length={self.max_length}; "
                f"shorten the query or raise max_length"
            )
        docs = [prep.docs[i] for i in doc_positions]
        title_tokens = self.backend.count_tokens([d.title + "\n" if d.title else "" for d in docs])
        text_tokens = self.backend.count_tokens([d.text for d in docs])
        out: dict[int, list[str]] = {}
        for pos, doc, n_title, n_text in zip(doc_positions, docs, title_tokens, text_tokens):
            text_budget = max(MIN_PASSAGE_TOKENS, budget - n_title)
            if n_text <= text_budget:
                out[pos] = [format_passage(doc.text, doc.title)]
                continue
            if self.long_documents == "window":
                windows = self.backend.split_windows(doc.text, text_budget, self.window_overlap)
                prep.num_windows[pos] = len(windows)
            else:
                windows = self.backend.split_windows(doc.text, text_budget, 0)[:1]
                prep.truncated[pos] = True
            out[pos] = [format_passage(w, doc.title) for w in windows]
        return out

    def _judge(
        self,
        prepared: list[_Prepared],
        strategy: Strategy,
        subsets: list[Sequence[int]],
        accounting: dict[int, RerankStats],
    ) -> dict[tuple[int, int], tuple[Judgment, int]]:
        """Judge the documents ``subsets[qi]`` of each query; best window per document.

        Every window judged is counted into ``accounting[qi]`` (pairs, generations,
        tokens, missing markers), not only the best one.
        """
        items: list[_Item] = []
        for qi, (prep, subset) in enumerate(zip(prepared, subsets)):
            if not subset:
                continue
            for di, windows in self._passages(prep, strategy, subset).items():
                items.extend(_Item(qi, di, wi, p) for wi, p in enumerate(windows))
        judgments = strategy.judge(self.backend, [(prepared[it.query_pos].query, it.passage) for it in items])
        best: dict[tuple[int, int], tuple[Judgment, int]] = {}
        for it, j in zip(items, judgments):
            key = (it.query_pos, it.doc_pos)
            if key not in best or j.score > best[key][0].score:
                best[key] = (j, it.window)
            accounting.setdefault(it.query_pos, RerankStats()).merge(
                RerankStats(pairs=1, generations=int(strategy.name == "reasoning"),
                            generated_tokens=j.generated_tokens, missing_marker=int(j.missing_marker),
                            hit_token_budget=int(j.hit_budget))
            )
        return best

    def _reasoning(self) -> Strategy:
        if self.strategy.name == "reasoning":
            return self.strategy
        if self._reasoning_strategy is None:
            self._reasoning_strategy = get_strategy(
                "reasoning", self._reasoning_prompt_version, max_new_tokens=self.max_new_tokens
            )
        return self._reasoning_strategy

    def _score(self, prepared: list[_Prepared], top_k: int | None, explain: bool | int) -> list[RerankResult]:
        passes_before = self.backend.forward_passes
        accounting: dict[int, RerankStats] = {}
        everything = [range(len(p.docs)) for p in prepared]
        cascade_k = 0
        if explain is True or self.strategy.name == "reasoning":
            first = self._reasoning()
        else:
            first = self.strategy
            cascade_k = int(explain)  # False -> 0
        best = self._judge(prepared, first, everything, accounting)
        ranked_per_query: list[list[RankedDocument]] = []
        for qi, prep in enumerate(prepared):
            ranked = [self._ranked(prep, qi, di, best[(qi, di)], first.name) for di in range(len(prep.docs))]
            self._fuse(ranked)
            ranked.sort(key=lambda r: -r.score)  # stable: ties keep input order
            ranked_per_query.append(ranked)
        if cascade_k:
            reasoning = self._reasoning()
            heads = [[r.index for r in ranked[:cascade_k]] for ranked in ranked_per_query]
            explained = self._judge(prepared, reasoning, heads, accounting)
            for qi, (prep, ranked) in enumerate(zip(prepared, ranked_per_query)):
                head = [self._ranked(prep, qi, di, explained[(qi, di)], reasoning.name) for di in heads[qi]]
                head.sort(key=lambda r: -r.score)
                ranked_per_query[qi] = head + ranked[cascade_k:]
        passes = self.backend.forward_passes - passes_before
        results: list[RerankResult] = []
        for qi, (prep, ranked) in enumerate(zip(prepared, ranked_per_query)):
            stats = accounting.get(qi, RerankStats())
            stats.forward_passes = passes if qi == 0 else 0
            stats.truncated_documents = sum(prep.truncated)
            stats.windowed_documents = sum(n > 1 for n in prep.num_windows)
            results.append(RerankResult(ranked[:top_k] if top_k is not None else ranked, stats))
        return results

    @staticmethod
    def _ranked(prep: _Prepared, qi: int, di: int, judged: tuple[Judgment, int], strategy: str) -> RankedDocument:
        judgment, window = judged
        return RankedDocument(
            index=di,
            score=judgment.score,
            model_score=judgment.score,
            document=prep.docs[di],
            strategy=strategy,
            label=judgment.label,
            label_probs=judgment.label_probs or None,
            explanation=judgment.explanation,
            truncated=prep.truncated[di],
            num_windows=prep.num_windows[di],
            best_window=window,
        )

    def _fuse(self, ranked: list[RankedDocument]) -> None:
        """Min-max normalised interpolation with the first-stage score, in place."""
        if self.fusion_weight <= 0 or not ranked:
            return
        first = [r.document.score for r in ranked]
        if all(s is None for s in first):
            logger.debug("fusion_weight=%s but no document carries a first-stage score", self.fusion_weight)
            return
        if any(s is None for s in first):
            missing = [r.index for r in ranked if r.document.score is None]
            raise InvalidInputError(
                f"fusion needs a first-stage score on every document; documents {missing[:10]} have none"
            )
        model = _minmax([r.score for r in ranked])
        stage1 = _minmax([float(s) for s in first])  # type: ignore[arg-type]
        w = self.fusion_weight
        for r, m, s in zip(ranked, model, stage1):
            r.score = (1.0 - w) * m + w * s


def _minmax(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    if hi - lo <= 0:
        return [0.5] * len(values)
    return [(v - lo) / (hi - lo) for v in values]


def _check_explain(explain: Any) -> None:
    if isinstance(explain, bool):
        return
    if not isinstance(explain, int) or explain < 1:
        raise InvalidInputError(f"explain must be True, False or a positive int (cascade depth), got {explain!r}")


def _check_top_k(top_k: Any) -> None:
    if top_k is None:
        return
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive int or None, got {top_k!r}")
