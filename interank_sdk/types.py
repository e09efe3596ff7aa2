"""Plain data objects: what goes into a reranker and what comes out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from .errors import InvalidInputError


@dataclass
class Document:
    """A candidate passage.

    Attributes:
        text: the passage text (required, non-empty after stripping).
        title: optional title, shown to the model before the text.
        id: optional caller identifier, returned untouched.
        metadata: arbitrary caller data, returned untouched (the same object).
        score: optional first-stage retrieval score (BM25, cosine, ...). Used
            only when the reranker is asked to fuse it (``fusion_weight > 0``).
    """

    text: str
    title: str | None = None
    id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float | None = None


DocumentLike = Union[str, Document, Mapping[str, Any]]


@dataclass
class RankedDocument:
    """One reranked document.

    Attributes:
        index: position of the document in the caller's input list.
        score: relevance score; higher is more relevant. In ``[0, 1]`` for every
            built-in strategy. When the reranker is calibrated
            (:meth:`Reranker.calibrate <interank_sdk.Reranker.calibrate>`) and
            :attr:`calibrated` is set, it is the probability that the document
            is relevant, as measured on the judgments it was calibrated on, so a
            threshold (``min_score``) means the same for every model; otherwise
            it is the model's own number mapped to ``[0, 1]`` (a sigmoid, a
            label probability), which orders well but is not a probability of
            relevance.
        document: the input document (a :class:`Document`; metadata untouched).
        strategy: name of the strategy that produced ``score`` (in a cascade,
            the fast strategy for documents outside the explained top ``k``).
        label: most probable label for label-based strategies (``"yes"``,
            ``"2"``, ...), else ``None``.
        label_probs: probability of each label (renormalised over the labels),
            for label-based strategies.
        explanation: the model's explanation, when one was asked for.
        model_score: the model's own score before fusion with the first-stage
            score (equal to ``score`` when no fusion is applied).
        raw_score: the model's number before it was mapped to ``[0, 1]``: a
            classifier's logit (what ``CrossEncoder.predict`` returns for a model
            without an activation), a yes/no log-odds, a bi-encoder's cosine, the
            mean log-probability of the query (``qlm``); ``None`` when there is none.
        stage: in a :class:`~interank_sdk.Cascade`, the stage whose model scored
            this document (1 = the first, cheap one); ``None`` outside a cascade.
        truncated: ``True`` when part of the document was cut to fit the token
            budget and never scored.
        query_truncated: ``True`` when the query was cut to ``query_max_tokens``
            for this call (a long query keeps its first tokens; see ``Reranker``).
        num_windows: number of windows the document was split into (1 when it
            fit, or was truncated).
        best_window: index of the window whose score counts (0 when unsplit).
        calibrated: ``True`` when ``model_score`` (and ``score``, unless it was
            fused with the first stage) is a calibrated probability of relevance;
            ``raw_score`` is untouched by calibration.
    """

    index: int
    score: float
    document: Document
    strategy: str
    label: str | None = None
    label_probs: dict[str, float] | None = None
    explanation: str | None = None
    model_score: float | None = None
    raw_score: float | None = None
    stage: int | None = None
    truncated: bool = False
    query_truncated: bool = False
    num_windows: int = 1
    best_window: int = 0
    calibrated: bool = False

    @property
    def text(self) -> str:
        """The document text (shortcut for ``document.text``)."""
        return self.document.text


@dataclass
class RerankStats:
    """Accounting for one rerank call (or a batch of calls).

    Attributes:
        pairs: (query, document-window) pairs scored.
        forward_passes: model forward batches run by the backend.
        truncated_documents: documents cut to fit the budget.
        truncated_queries: queries cut to ``query_max_tokens`` (a long query keeps
            its first tokens so the documents keep their share of ``max_length``).
        windowed_documents: documents split into several windows.
        generations: explanations generated (reasoning strategy).
        generated_tokens: tokens generated for explanations.
        missing_marker: generations that did not write the label marker
            themselves (the marker was appended before reading the label).
        hit_token_budget: generations stopped by ``max_new_tokens``.
        below_min_score: documents dropped because their score was below the
            call's ``min_score``.
        llm_calls: prompts an ordering strategy (listwise, pairwise, setwise) put
            to the model: windows, comparisons.
        order_repairs: identifiers of generated permutations that were invalid
            or repeated (dropped) or missing (appended in their previous order).
        order_fallbacks: windows whose answer held no permutation at all (kept
            in their previous order).
    """

    pairs: int = 0
    forward_passes: int = 0
    truncated_documents: int = 0
    truncated_queries: int = 0
    windowed_documents: int = 0
    generations: int = 0
    generated_tokens: int = 0
    missing_marker: int = 0
    hit_token_budget: int = 0
    below_min_score: int = 0
    llm_calls: int = 0
    order_repairs: int = 0
    order_fallbacks: int = 0

    def merge(self, other: "RerankStats") -> None:
        """Add ``other``'s counters to this object in place."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class RerankResult(list):
    """The list of :class:`RankedDocument` returned by ``rerank``, best first.

    A plain ``list`` subclass, with a :attr:`stats` attribute that accounts for
    the work done for this call, and, when the call gave a ``min_score``, that
    threshold and whether any document reached it.

    Attributes:
        stats: the work done (:class:`RerankStats`).
        min_score: the call's threshold, ``None`` when it gave none.
    """

    def __init__(self, items: list[RankedDocument] = (), stats: RerankStats | None = None,  # type: ignore[assignment]
                 min_score: float | None = None):
        super().__init__(items)
        self.stats: RerankStats = stats if stats is not None else RerankStats()
        self.min_score = min_score

    @property
    def nothing_relevant(self) -> bool | None:
        """``True`` when a ``min_score`` was given and no document reached it (a RAG app's "I don't know"),
        ``False`` when some did, ``None`` when the call gave no threshold."""
        return None if self.min_score is None else len(self) == 0

    def above(self, min_score: float | None, top_k: int | None = None) -> RerankResult:
        """The documents whose model score is at least ``min_score`` (in this order; ``None`` keeps all), then
        the best ``top_k``; the dropped ones are counted in ``stats.below_min_score``.

        The model score (:attr:`RankedDocument.model_score`, the calibrated probability on a calibrated
        reranker) is what is compared, so fusion with the first stage never changes what a threshold means.

        Raises:
            InvalidInputError: ``min_score`` is not a number in ``[0, 1]``.
        """
        check_min_score(min_score)
        kept = list(self) if min_score is None else [r for r in self if _model_score(r) >= min_score]
        self.stats.below_min_score += len(self) - len(kept)
        return RerankResult(kept[:top_k] if top_k is not None else kept, self.stats, min_score)


def _model_score(r: Any) -> float:
    model = getattr(r, "model_score", None)
    return float(model if model is not None else r.score)


def check_min_score(min_score: Any) -> None:
    """Refuse a threshold that is not a finite number in ``[0, 1]`` (scores lie there)."""
    if min_score is None:
        return
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0.0 <= min_score <= 1.0:
        raise InvalidInputError(f"min_score must be a number in [0, 1] or None, got {min_score!r}")


_DICT_KEYS = {"text", "title", "id", "metadata", "score"}


def check_encodable(text: str, what: str) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate such as ``"\\udfff"``): no tokenizer can read it.

    Raises:
        InvalidInputError: naming ``what`` and the position of the bad character.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} is not valid Unicode: a lone surrogate {text[exc.start]!r} at character {exc.start}"
        ) from None


def to_document(item: DocumentLike, position: int) -> Document:
    """Normalise a ``str``, :class:`Document` or mapping to a :class:`Document`.

    Raises:
        InvalidInputError: ``None``, a non-text value, an empty text, or a
            mapping without a string ``text`` field. The message names the
            position so the caller can find the bad document.
    """
    if isinstance(item, Document):
        doc = item
    elif isinstance(item, str):
        doc = Document(text=item)
    elif isinstance(item, Mapping):
        if "text" not in item:
            raise InvalidInputError(
                f"documents[{position}] is a mapping without a 'text' field (keys: {sorted(item)})"
            )
        metadata = item.get("metadata")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise InvalidInputError(f"documents[{position}]['metadata'] must be a dict, got {type(metadata).__name__}")
        unknown = set(item) - _DICT_KEYS
        if unknown:
            raise InvalidInputError(
                f"documents[{position}] has unknown keys {sorted(unknown)}; "
                f"allowed: {sorted(_DICT_KEYS)} (put other fields in 'metadata')"
            )
        doc = Document(
            text=item["text"],
            title=item.get("title"),
            id=None if item.get("id") is None else str(item["id"]),
            metadata=metadata,
            score=item.get("score"),
        )
    elif item is None:
        raise InvalidInputError(f"documents[{position}] is None")
    else:
        raise InvalidInputError(
            f"documents[{position}] must be a str, a Document or a mapping with 'text', got {type(item).__name__}"
        )
    if not isinstance(doc.text, str):
        raise InvalidInputError(f"documents[{position}].text must be a str, got {type(doc.text).__name__}")
    if not doc.text.strip():
        raise InvalidInputError(f"documents[{position}] has an empty text")
    check_encodable(doc.text, f"documents[{position}].text")
    if doc.title is not None and not isinstance(doc.title, str):
        raise InvalidInputError(f"documents[{position}].title must be a str or None")
    if doc.title is not None:
        check_encodable(doc.title, f"documents[{position}].title")
    if doc.score is not None:
        if isinstance(doc.score, bool) or not isinstance(doc.score, (int, float)):
            raise InvalidInputError(f"documents[{position}].score must be a number or None")
    return doc
