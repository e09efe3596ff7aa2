"""The one public entry point: :class:`Reranker`."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .assembly import assemble, build_strategy
from .calibration import Calibration, describe_scores, initial_calibration, warn_uncalibrated
from .backends import Backend, CausalLM
from .base import BaseReranker
from .card import MODEL_CARD_FILE, ModelCard
from .errors import InvalidInputError, UnsupportedError, check_fraction, check_int
from .pipeline import MIN_PASSAGE_TOKENS, Pipeline, check_batch, check_explain, check_top_k, finish, prepare
from .strategies import Strategy
from .types import DocumentLike, RerankResult, RerankStats, check_min_score

if TYPE_CHECKING:
    from .eval.data import TrecDataset

logger = logging.getLogger(__name__)

#: prompt budget (tokens) of causal-LM strategies when ``max_length`` is not given
DEFAULT_MAX_LENGTH = 512
#: the runtime options every backend may take, with ``Reranker``'s defaults
_RUNTIME_DEFAULTS: dict[str, Any] = {
    "device": "auto", "dtype": "auto", "quantization": None, "batch_size": None,
    "local_files_only": False, "trust_remote_code": False, "show_progress": False,
}


def model_card(model: Any) -> dict[str, Any]:
    """The ``interank.json`` of a local model or adapter folder as a dict, or ``{}`` (see :class:`ModelCard`)."""
    card = ModelCard.read(model) if Path(str(model)).expanduser().is_dir() else None
    return card.to_dict() if card is not None else {}


class Reranker(BaseReranker):
    """Reorder a query's candidate documents by relevance with any reranker model.

    The model kind is read from the model's own files (``config.json``,
    sentence-transformers' configs, the README's front matter, ``interank.json``):
    a cross-encoder or an LLM classifier is read through its classification head,
    a sentence-transformers bi-encoder by cosine, Qwen3-Reranker and
    bge-reranker-v2-gemma through their own yes/no prompts, any other causal LM
    by query likelihood (see :mod:`interank_sdk.detect`).

    Args:
        model: a hub id (``"cross-encoder/ms-marco-MiniLM-L6-v2"``,
            ``"Qwen/Qwen2.5-0.5B-Instruct"``), a local model folder, a ``.gguf``
            file, a LoRA adapter folder (base model read from its
            ``adapter_config.json``), a served model's name (``backend="openai"``
            or ``"rerank-api"``), or a ready :class:`~interank_sdk.backends.Backend`.
        backend: the runtime: ``"auto"``/``"hf"`` (transformers in process),
            ``"vllm"``, ``"openai"`` (an OpenAI-compatible server) or
            ``"rerank-api"`` (a Cohere/Jina/TEI-style ``/rerank`` service).
        strategy: what is read from the model: ``"auto"`` (from the model's files),
            ``"qlm"``, ``"yesno"``, ``"graded"``, ``"reasoning"``, ``"classifier"``,
            ``"embedding"``, ``"qwen3-reranker"``, ``"bge-reranker-gemma"``, ``"remote"``; or an ordering
            strategy for instruct LLMs, which shows the model several documents per call: ``"listwise"``
            (RankGPT/RankZephyr permutations), ``"listwise-first"`` (FIRST: identifier logits),
            ``"rankzephyr"``, ``"first-mistral"`` (presets), ``"pairwise"`` (PRP), ``"setwise"``. Their
            scores come from the final rank (1.0 first, 0.0 last; ``raw_score`` is the rank).
        prompt_version: version of the strategy's prompt template (default: latest).
        strategy_options: options of the strategy (``{"instruction": ...}`` for
            Qwen3-Reranker, ``{"pair_format": {...}}`` or ``{"activation": ...}``
            for classifiers).
        device: ``"auto"`` (cuda if present, else cpu), ``"cpu"``, ``"cuda"``...
        dtype: ``"auto"`` (bf16 where the hardware runs it natively, else fp32) or a dtype name.
        quantization: ``None``; ``"4bit"`` (NF4) or ``"8bit"`` via bitsandbytes;
            ``"int8"``: the CPU int8 path, the implementation that is fast on this CPU (per-token
            ``torch._int_mm`` with int8 dot-product instructions; PyTorch's dynamic int8 layers for
            cross-encoders without them; :mod:`interank_sdk.backends.int8`, docs/performance.md).
        max_length: token budget of one input; documents are cut (or windowed)
            to fit. Default: 512 for causal LMs (4096, one window's prompt, for
            ordering strategies), the model's own limit for classifiers and
            encoders (never past it).
        query_max_tokens: the most tokens a query keeps when it would leave the
            documents less than their share of ``max_length`` (default: half of
            ``max_length``): a longer query keeps its first tokens, and each
            result says ``query_truncated`` (the call's stats count it). A query
            that fits is never cut.
        batch_size: sequences per forward pass (default: the runtime's; 16 for causal LMs,
            64 for classifiers and encoders, whose batches cost less per sequence).
        long_documents: ``"truncate"`` (keep the first tokens that fit) or
            ``"window"`` (score overlapping windows, keep the best).
        window_overlap: tokens shared by consecutive windows.
        max_new_tokens: token budget of one explanation (``reasoning`` strategy, ``explain``).
        fusion_weight: weight of the first-stage score (``Document.score``) in a
            min-max normalised interpolation with the model score; 0 disables.
        local_files_only: never contact the model hub.
        trust_remote_code: allow model code from the hub (off unless asked).
        show_progress: progress bars over batches.
        calibration: ``None`` (default): the calibration in the model's
            ``interank.json`` when it has one (see :meth:`calibrate`), else the
            model's own scores; a :class:`~interank_sdk.calibration.Calibration`
            or the path of one saved with ``Calibration.save``; ``False``: the
            model's own scores even when its card has a calibration.
        **backend_kwargs: runtime options (``revision``, ``cache_dir``, ``base_url``,
            ``api_key``, ``tensor_parallel_size``, ``keep_freed_memory``...). An
            option the chosen backend does not take is an :class:`InvalidInputError`.

    Example:
        >>> from interank_sdk import Reranker
        >>> reranker = Reranker("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
        >>> ranked = reranker.rerank(
        ...     "how do plants make food?",
        ...     ["Photosynthesis turns light into chemical energy.", "The Eiffel Tower is in Paris."],
        ... )  # doctest: +SKIP
        >>> [(r.index, round(r.score, 3)) for r in ranked]  # doctest: +SKIP
        [(0, 0.998), (1, 0.001)]
    """

    def __init__(
        self,
        model: str | Path | Backend,
        *,
        backend: str = "auto",
        strategy: str = "auto",
        prompt_version: str | None = None,
        strategy_options: dict[str, Any] | None = None,
        device: str = "auto",
        dtype: Any = "auto",
        quantization: str | None = None,
        max_length: int | None = None,
        batch_size: int | None = None,
        long_documents: str = "truncate",
        window_overlap: int = 64,
        fusion_weight: float = 0.0,
        query_max_tokens: int | None = None,
        max_new_tokens: int = 160,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        show_progress: bool = False,
        calibration: Calibration | str | Path | bool | None = None,
        **backend_kwargs: Any,
    ) -> None:
        if long_documents not in ("truncate", "window"):
            raise InvalidInputError(f"long_documents must be 'truncate' or 'window', got {long_documents!r}")
        check_fraction("fusion_weight", fusion_weight)
        check_int("max_length", max_length, minimum=MIN_PASSAGE_TOKENS * 2, allow_none=True)
        check_int("window_overlap", window_overlap, minimum=0)
        check_int("query_max_tokens", query_max_tokens, allow_none=True)
        if strategy_options is not None and not isinstance(strategy_options, dict):
            raise InvalidInputError("strategy_options must be a dict")
        values = {"device": device, "dtype": dtype, "quantization": quantization, "batch_size": batch_size,
                  "local_files_only": local_files_only, "trust_remote_code": trust_remote_code,
                  "show_progress": show_progress}
        if batch_size is None:
            del values["batch_size"]  # each runtime has its own default
        explicit = {k for k, v in values.items() if v != _RUNTIME_DEFAULTS[k]} | set(backend_kwargs)
        built = assemble(
            model, backend=backend, strategy=strategy, prompt_version=prompt_version,
            strategy_options=dict(strategy_options or {}), max_new_tokens=max_new_tokens, max_length=max_length,
            options={**values, **backend_kwargs}, explicit=explicit,
        )
        self.backend: Backend = built.backend
        self.strategy: Strategy = built.strategy
        self.profile = built.profile
        self.card = built.card
        self.max_new_tokens = max_new_tokens
        self._reasoning_strategy: Strategy | None = None
        self._reasoning_prompt_version = prompt_version if self.strategy.generates else None
        self.model_name = self.backend.model_name
        if self.strategy.orders and long_documents == "window":
            raise InvalidInputError(f"strategy {self.strategy.name!r} shows each document once in a list; "
                                    "long_documents='window' does not apply (documents are cut to fit)")
        self.max_length = self._budget(max_length)
        self.pipeline = Pipeline(self.backend, self.max_length, long_documents, window_overlap, float(fusion_weight),
                                 query_max_tokens)
        self._lock = threading.Lock()
        folder = Path(str(model)).expanduser() if isinstance(model, (str, Path)) else None
        #: the local folder whose ``interank.json`` :meth:`calibrate` writes (``None``: a hub id, a server model)
        self.card_folder: Path | None = folder if folder is not None and folder.is_dir() else None
        self.pipeline.calibration = initial_calibration(calibration, self.card, self.strategy.name)

    def _budget(self, max_length: int | None) -> int | None:
        """The token budget of one input: the caller's, capped by (or defaulting to) the model's limit."""
        limit = self.backend.max_input_tokens
        if self.backend.fits_inputs_itself:
            return max_length
        if max_length is None and self.strategy.orders:  # one call shows a window of documents: rank_llm's context
            max_length = getattr(self.strategy, "default_context", DEFAULT_MAX_LENGTH)
            context = getattr(self.backend, "context_tokens", None)
            if context is not None and context < max_length:
                max_length = context
        if limit is not None:
            if max_length is not None and max_length > limit:
                logger.info("max_length %d is past the model's limit; using %d", max_length, limit)
            return min(max_length, limit) if max_length is not None else limit
        return max_length if max_length is not None else DEFAULT_MAX_LENGTH

    @property
    def long_documents(self) -> str:
        return self.pipeline.long_documents

    @property
    def fusion_weight(self) -> float:
        return self.pipeline.fusion_weight

    def __repr__(self) -> str:
        return (
            f"Reranker(model={self.model_name!r}, backend={self.backend.name!r}, "
            f"strategy={self.strategy.name!r}, prompt_version={self.strategy.version!r})"
        )

    # ------------------------------------------------------------------ public
    def rerank_batch(
        self,
        queries: Sequence[str],
        documents_per_query: Sequence[Sequence[DocumentLike]],
        top_k: int | None = None,
        explain: bool | int = False,
        min_score: float | None = None,
    ) -> list[RerankResult]:
        """Rerank several queries at once; their pairs share forward passes.

        A query's scores may then differ from :meth:`rerank`'s in the last bits (up
        to ~1e-3 in bf16, which can swap near-ties); a local runtime built with
        ``mix_queries=False`` batches each query alone and gives exactly
        :meth:`rerank`'s scores.

        Args:
            queries: the queries.
            documents_per_query: one list of documents per query.
            top_k: keep the best ``top_k`` of each query.
            explain: as in :meth:`rerank`.
            min_score: as in :meth:`rerank`.

        Returns:
            one :class:`RerankResult` per query, in order.
        """
        check_batch(queries, documents_per_query)
        check_top_k(top_k)
        check_explain(explain)
        check_min_score(min_score)
        warn_uncalibrated(self, min_score)
        prepared = [prepare(q, docs) for q, docs in zip(queries, documents_per_query)]
        with self._lock:
            return self._score(prepared, top_k, explain, min_score)

    def predict(self, pairs: Sequence[tuple[str, DocumentLike]], *, raw: bool = False) -> np.ndarray:
        """Score ``(query, document)`` pairs in order, like sentence-transformers' ``CrossEncoder.predict``.

        Pairs share forward passes (see :meth:`rerank_batch` for ``mix_queries``).

        Args:
            pairs: ``(query, document)`` tuples.
            raw: return each pair's :attr:`~interank_sdk.types.RankedDocument.raw_score`
                (a classifier's logit) instead of its score in ``[0, 1]``.

        Returns:
            a float array aligned with ``pairs``.

        Raises:
            UnsupportedError: ``raw=True`` with a strategy that has no raw score.
        """
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
            raise InvalidInputError("pairs must be a list of (query, document) tuples")
        groups: OrderedDict[str, list[int]] = OrderedDict()
        for i, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise InvalidInputError(f"pairs[{i}] must be a (query, document) tuple")
            if not isinstance(pair[0], str):
                raise InvalidInputError(f"pairs[{i}][0] (the query) must be a str, got {type(pair[0]).__name__}")
            groups.setdefault(pair[0], []).append(i)
        queries = list(groups)
        results = self.rerank_batch(queries, [[pairs[i][1] for i in groups[q]] for q in queries])
        out = np.zeros(len(pairs), dtype=np.float64)
        for query, result in zip(queries, results):
            for r in result:
                value = r.raw_score if raw else r.score
                if value is None:
                    raise UnsupportedError(f"strategy {self.strategy.name!r} gives no raw score")
                out[groups[query][r.index]] = value
        return out

    # ----------------------------------------------------------------- helpers
    def _reasoning(self) -> Strategy:
        """The strategy that writes explanations: this reranker's own when it writes them, else the reasoning
        strategy on this reranker's causal LM."""
        if self.strategy.generates:
            return self.strategy
        if not isinstance(self.backend, CausalLM):
            raise UnsupportedError(
                f"a {self.backend.kind} model cannot write explanations; to explain with a second, generative "
                "model, use Cascade(Reranker(this model), Reranker(llm), explain=...)"
            )
        if self._reasoning_strategy is None:
            self._reasoning_strategy = build_strategy(
                "reasoning", prompt_version=self._reasoning_prompt_version, profile=None, card=None,
                user_options={}, max_new_tokens=self.max_new_tokens)
        return self._reasoning_strategy

    def _score(self, prepared: list, top_k: int | None, explain: bool | int,
               min_score: float | None = None) -> list[RerankResult]:
        passes_before = self.backend.forward_passes
        accounting: dict[int, RerankStats] = {}
        cascade_k = 0
        if explain is True or self.strategy.generates:
            first = self._reasoning()
        else:
            first = self.strategy
            cascade_k = int(explain)  # False -> 0
            if cascade_k:
                self._reasoning()  # fail before scoring when this model cannot explain
        ranked = self.pipeline.rank(prepared, first, accounting=accounting, k=top_k)
        if cascade_k:
            reasoning = self._reasoning()
            heads = [[r.index for r in docs[:cascade_k]] for docs in ranked]
            explained = self.pipeline.rank(prepared, reasoning, heads, accounting, fuse=False)
            ranked = [head + docs[cascade_k:] for head, docs in zip(explained, ranked)]
        return finish(prepared, ranked, accounting, self.backend.forward_passes - passes_before, top_k, min_score)

    # ------------------------------------------------------------- calibration
    def calibrate(self, data: str | Path | TrecDataset, run: str | Path | Mapping[str, Sequence[tuple[str, float]]]
                  | None = None, **options: Any) -> Calibration:
        """Fit the map from this model's raw score to P(relevant) on judgments, use it, and save it.

        Every judged (query, document) pair among the top ``depth`` of ``run``
        is scored; the map (Platt scaling by default) is fitted on their raw
        scores and judgments. From then on ``score`` is the calibrated
        probability, ``raw_score`` is untouched and the ranking never changes
        (the map is monotone and applied after ordering). The calibration is
        written into the model folder's ``interank.json`` (``save=True``, the
        default for a local folder) with what it was fitted on and its
        held-out error; for a hub or served model it is kept on this reranker
        (``calibration.save(path)`` keeps it, ``Reranker(..., calibration=path)``
        uses it again).

        Args:
            data: a TREC folder (``queries.jsonl``, ``corpus.jsonl``, ``qrels.tsv``) or a loaded dataset.
            run: the first-stage run to take candidates from (a file, a name in ``data``, or a run mapping;
                default ``DATA/run.bm25.top100.trec``).
            **options: ``method`` (``"platt"``, ``"temperature"``, ``"isotonic"``), ``relevance_level``
                (default 2, TREC DL's binary convention), ``depth`` (100), ``max_queries``,
                ``heldout_fraction`` (0.2), ``seed``, ``batch_queries``, ``save`` (``None``: the model's
                folder when it is local; ``True`` requires one; ``False``), ``progress``; see
                :func:`interank_sdk.eval.calibrate.calibrate_reranker`.

        Returns:
            the :class:`~interank_sdk.calibration.Calibration` now in use.

        Raises:
            InvalidInputError: judgments with no relevant or no non-relevant pair
                among the candidates, too few judged pairs, non-finite raw scores;
                the model card is then left untouched.
        """
        from .eval.calibrate import calibrate_reranker

        return calibrate_reranker(self, data, run, **options)

    @property
    def calibration(self) -> Calibration | None:
        """The map from raw score to P(relevant) in use (``None``: the model's own scores)."""
        return self.pipeline.calibration

    def set_calibration(self, calibration: Calibration | None) -> None:
        """Use ``calibration`` from now on (``None``: the model's own scores); nothing is written."""
        if calibration is not None and not isinstance(calibration, Calibration):
            raise InvalidInputError(f"calibration must be a Calibration or None, got {type(calibration).__name__}")
        self.pipeline.calibration = calibration

    def describe(self) -> dict[str, Any]:
        """What this reranker runs and how its scores read: model, runtime, strategy, budget, calibration."""
        return {"model": self.model_name, "runtime": self.backend.describe(), "strategy": self.strategy.name,
                "prompt_version": self.strategy.version, "max_length": self.max_length,
                "calibrated": self.calibration is not None,
                "calibration": self.calibration.to_dict() if self.calibration is not None else None,
                "scores": describe_scores(self.calibration, from_rank=self.strategy.orders),
                "strategy_options": self.strategy.options()}

    def close(self) -> None:
        """Release the backend (engines, connections)."""
        self.backend.close()


__all__ = ["DEFAULT_MAX_LENGTH", "MODEL_CARD_FILE", "Reranker", "model_card"]
