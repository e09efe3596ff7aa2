"""The strategy interface: what is read from a model (the model's head), and how it becomes a score."""

from __future__ import annotations

import math

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from ..backends.base import Backend, CausalLM
from ..prompts import Prompt, PromptTemplate, format_passage, get_template


def sigmoid(x: float) -> float:
    """The logistic function, without overflow for large ``|x|`` (how a logit or a log-odds becomes a score).

    >>> sigmoid(0.0), round(sigmoid(800.0), 6), round(sigmoid(-800.0), 6)
    (0.5, 1.0, 0.0)
    """
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass
class Judgment:
    """A strategy's verdict on one (query, passage) pair.

    Attributes:
        score: relevance in ``[0, 1]``, higher is more relevant.
        raw_score: the model's number before it was mapped to ``[0, 1]`` (a
            classifier's logit, a log-odds, a cosine), when there is one.
        label: most probable label (label strategies), else ``None``.
        explanation: generated explanation (reasoning strategy), else ``None``.
        label_probs: probability of each label, renormalised over the labels.
        generated_tokens: tokens generated for the explanation.
        missing_marker: the model did not write the label marker itself.
        hit_budget: generation stopped at the token budget.
        truncated: the runtime cut the passage to fit its token budget (a pair classifier fits each pair in the
            call that encodes it).
    """

    score: float
    raw_score: float | None = None
    label: str | None = None
    explanation: str | None = None
    label_probs: dict[str, float] = field(default_factory=dict)
    generated_tokens: int = 0
    missing_marker: bool = False
    hit_budget: bool = False
    truncated: bool = False


#: the runtime interface a strategy reads
R = TypeVar("R", bound=Backend)


class Strategy(ABC, Generic[R]):
    """Turns (query, passage) pairs into :class:`Judgment` objects using a runtime.

    A subclass names the runtime interface it reads as its type parameter
    (``class ClassifierStrategy(Strategy[PairClassifier])``: a classifier's
    logits; :class:`~interank_sdk.backends.base.CausalLM`: a causal LM's
    next-token distribution; ...), which becomes :attr:`runtime`, and says what
    it makes of what it reads.

    Args:
        prompt_version: version of the strategy's prompt template (default: latest;
            strategies without prompt templates take none).
    """

    #: registry name of the strategy
    name: ClassVar[str] = ""
    #: the runtime interface a backend must implement for this strategy (from the class's type parameter)
    runtime: ClassVar[type[Backend]] = CausalLM
    #: the model kind that interface runs (``runtime.kind``)
    model_kind: ClassVar[str] = CausalLM.kind
    #: whether the strategy has versioned prompt templates in :mod:`interank_sdk.prompts`
    has_template: ClassVar[bool] = True
    #: whether judgments come with generated text, an explanation per document (counted as generations; such a
    #: strategy is what `explain=` uses when the reranker runs it)
    generates: ClassVar[bool] = False
    #: whether the strategy orders a query's candidates together (listwise, pairwise, setwise:
    #: :class:`~interank_sdk.strategies.ordering.OrderingStrategy`) instead of judging each pair alone
    orders: ClassVar[bool] = False
    #: the strategy whose prompt templates this one uses (default: its own name)
    template_family: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Strategy and get_args(base) and isinstance(get_args(base)[0], type):
                cls.runtime = get_args(base)[0]
        cls.model_kind = cls.runtime.kind

    def __init__(self, prompt_version: str | None = None) -> None:
        self.template: PromptTemplate | None = (get_template(self.template_family or self.name, prompt_version)
                                                if self.has_template else None)
        if not self.has_template and prompt_version is not None:
            from ..errors import InvalidInputError

            raise InvalidInputError(f"strategy {self.name!r} has no prompt templates; prompt_version does not apply")

    def prompt(self, query: str, passage: str) -> Prompt:
        """The prompt for one pair."""
        assert self.template is not None, f"{self.name} has no prompt template"
        return self.template.render(query, passage)

    def format_passage(self, text: str, title: str | None) -> str:
        """The passage as the model sees it, from a document's text and title."""
        return format_passage(text, title)

    def reserved_tokens(self, backend: R, query: str) -> int | None:
        """Tokens of the input around the passage (the passage gets the rest of ``max_length``); by default the
        rendered prompt's (the prompt strategies that read a causal LM).

        ``None``: the backend budgets documents itself (a remote rerank service).
        """
        assert isinstance(backend, CausalLM), f"{self.name} reads {self.model_kind} runtimes and must say its budget"
        return backend.prompt_length(self.prompt(query, ""))

    @abstractmethod
    def judge(self, backend: R, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        """Judge ``(query, passage)`` pairs, batched by the backend; one judgment per pair, in order."""

    @property
    def version(self) -> str | None:
        return self.template.version if self.template is not None else None

    def options(self) -> dict[str, Any]:
        """The strategy's settings, as recorded in a model card (``interank.json``)."""
        return {}
