"""Strategies: what is read from a model (its head) and how it becomes a score.

One file per kind of head; :data:`STRATEGIES` is the registry (a new kind of
model is one new file plus a line here):

========================  ===============================================  =========================
strategy                  what is read                                     model kind
========================  ===============================================  =========================
``qlm``                   the query's likelihood after the passage         causal LM
``yesno``, ``graded``     label tokens at the answer position              causal LM
``reasoning``             a generated explanation, then the label tokens   causal LM
``qwen3-reranker``,       a preset's own prompt and yes/no tokens          causal LM
``bge-reranker-gemma``
``classifier``            a classification head's logit                    sequence classifier
``embedding``             cosine of pooled embeddings                      embedding encoder
``remote``                a rerank service's relevance score               remote rerank service
``listwise``,             a generated permutation of a window of passages  causal LM
``rankzephyr``
``listwise-first``,       the logits of the identifier tokens of a window  causal LM
``first-mistral``
``pairwise``              the better of two passages (both orders), PRP    causal LM
``setwise``               the best of a few passages, in a sort            causal LM
========================  ===============================================  =========================

The last four order a query's candidates together
(:class:`~interank_sdk.strategies.ordering.OrderingStrategy`); the others
judge each pair alone.
"""

from __future__ import annotations

from ..errors import InvalidInputError
from .base import Judgment, Strategy
from .comparisons import PairwiseStrategy, SetwiseStrategy
from .classifier import ENCODER_PAIR_FORMAT, LLM_PAIR_FORMAT, ClassifierStrategy, PairFormat
from .embedding import EmbeddingStrategy
from .labels import GradedStrategy, LabelStrategy, YesNoStrategy
from .listwise import FirstMistralStrategy, ListwiseFirstStrategy, ListwiseStrategy, RankZephyrStrategy
from .ordering import Ordering, OrderingStrategy
from .presets import BGEGemmaRerankerStrategy, Qwen3RerankerStrategy
from .qlm import QueryLikelihoodStrategy
from .reasoning import ReasoningStrategy
from .remote import RemoteStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    "yesno": YesNoStrategy,
    "graded": GradedStrategy,
    "qlm": QueryLikelihoodStrategy,
    "reasoning": ReasoningStrategy,
    "qwen3-reranker": Qwen3RerankerStrategy,
    "bge-reranker-gemma": BGEGemmaRerankerStrategy,
    "classifier": ClassifierStrategy,
    "embedding": EmbeddingStrategy,
    "remote": RemoteStrategy,
    "listwise": ListwiseStrategy,
    "listwise-first": ListwiseFirstStrategy,
    "rankzephyr": RankZephyrStrategy,
    "first-mistral": FirstMistralStrategy,
    "pairwise": PairwiseStrategy,
    "setwise": SetwiseStrategy,
}


def get_strategy(name: str, prompt_version: str | None = None, **options: object) -> Strategy:
    """Instantiate a strategy by name (``options`` go to its constructor, e.g. ``max_new_tokens``).

    Raises:
        InvalidInputError: an unknown name, or options the strategy does not take.
    """
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise InvalidInputError(f"unknown strategy {name!r}; choose one of {sorted(STRATEGIES)}") from None
    try:
        return cls(prompt_version=prompt_version, **options)  # type: ignore[call-arg]
    except TypeError as exc:
        raise InvalidInputError(f"strategy {name!r} does not take the options {sorted(options)}: {exc}") from None


__all__ = [
    "Judgment", "Strategy", "LabelStrategy", "YesNoStrategy", "GradedStrategy", "QueryLikelihoodStrategy",
    "ReasoningStrategy", "Qwen3RerankerStrategy", "BGEGemmaRerankerStrategy", "ClassifierStrategy",
    "EmbeddingStrategy", "RemoteStrategy", "PairFormat", "ENCODER_PAIR_FORMAT", "LLM_PAIR_FORMAT",
    "STRATEGIES", "get_strategy", "OrderingStrategy", "Ordering", "ListwiseStrategy", "ListwiseFirstStrategy",
    "RankZephyrStrategy", "FirstMistralStrategy", "PairwiseStrategy", "SetwiseStrategy",
]
