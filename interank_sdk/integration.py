"""What the framework integrations share: the options they accept and the `Reranker` they use.

The LlamaIndex postprocessor and the LangChain compressor only translate their
framework's types to and from :class:`~interank_sdk.Document` /
:class:`~interank_sdk.RankedDocument`; the option checks and the choice between a
shared and a new reranker live here, once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .base import BaseReranker
from .errors import InvalidInputError, check_int
from .pipeline import check_explain
from .reranker import Reranker

logger = logging.getLogger(__name__)

#: metadata key under which the integrations put a document's explanation
EXPLANATION_KEY = "relevance_explanation"


def resolve_reranker(
    owner: str,
    model: str | Path | None,
    reranker: BaseReranker | None,
    reranker_kwargs: dict[str, Any],
    *,
    top_n: int | None,
    explain: bool | int,
) -> BaseReranker:
    """Check an integration's options and return the reranker it should use.

    Args:
        owner: the integration's class name, for error messages.
        model: hub id or path to load (exclusive with ``reranker``).
        reranker: a ready :class:`Reranker` (or :class:`~interank_sdk.Cascade`) to share (one model per process).
        reranker_kwargs: options for a reranker built from ``model``.
        top_n: results to keep (a positive int) or ``None`` for all.
        explain: ``True``, ``False`` or a positive int (the cascade's k).

    Raises:
        InvalidInputError: neither or both of model/reranker, options for a
            shared reranker, or a bad ``top_n``/``explain``.

    Example:
        >>> resolve_reranker("MyAdapter", None, None, {}, top_n=5, explain=False)
        Traceback (most recent call last):
        ...
        interank_sdk.errors.InvalidInputError: MyAdapter needs a model (hub id or path) or a ready reranker=Reranker(...)
    """
    if reranker is None and model is None:
        raise InvalidInputError(f"{owner} needs a model (hub id or path) or a ready reranker=Reranker(...)")
    if reranker is not None:
        if not isinstance(reranker, BaseReranker):
            raise InvalidInputError(
                f"reranker must be an interank_sdk.Reranker or Cascade, got {type(reranker).__name__}")
        if model is not None:
            raise InvalidInputError("pass either model or reranker, not both")
        if reranker_kwargs:
            raise InvalidInputError(
                f"reranker options {sorted(reranker_kwargs)} apply only when the reranker is built from model=; "
                "set them on the shared Reranker instead"
            )
    check_int("top_n", top_n, allow_none=True)
    check_explain(explain)
    if reranker is None:
        logger.info("loading InteRank reranker %s", model)
        reranker = Reranker(model, **reranker_kwargs)  # type: ignore[arg-type]
    return reranker
