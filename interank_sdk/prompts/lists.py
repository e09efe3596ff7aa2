"""Versioned prompts that show the model several passages at once: listwise, pairwise and setwise ranking.

Plain data, like :class:`~interank_sdk.prompts.PromptTemplate`, registered in
the same registry under the strategy's name (``get_template("listwise")``).
The texts are the published ones, so checkpoints trained on them behave as
their authors measured:

* ``listwise`` ``v1``: rank_llm's RankZephyr prompt (``rank_zephyr_template.yaml``,
  numeric identifiers ``[1]``...), the prompt RankZephyr and RankVicuna were
  trained on; ``v1-alpha``: its alphabetical variant
  (``rank_zephyr_alpha_template.yaml``, ``[A]``...), FirstMistral's. Passages are
  shown as rank_llm shows them (:meth:`ListwiseTemplate.passage`): ``Title: ...
  Content: ...``, cut to a number of words, ``[n]`` in the text written ``(n)``,
  text repaired with ``ftfy``.
* ``pairwise`` ``v1``: PRP's prompt (Qin et al. 2024, as in the Setwise authors'
  ``llm-rankers``), read at the token after ``Passage``.
* ``setwise`` ``v1``: the Setwise prompt (Zhuang et al. 2024, ``llm-rankers``),
  read the same way over the labels ``A``, ``B``, ...
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import Prompt, register

_BRACKETED_NUMBER = re.compile(r"\[(\d+)\]")


def _fix_text(text: str) -> str:
    try:
        from ftfy import fix_text
    except ImportError as exc:  # a core dependency; only a broken install lacks it
        raise ImportError("the listwise prompts repair text with ftfy: pip install 'ftfy>=6.2'") from exc
    return fix_text(text)


def replace_numbers(text: str) -> str:
    """``[3]`` -> ``(3)``: a passage or query cannot write an identifier of the list (rank_llm's rule)."""
    return _BRACKETED_NUMBER.sub(r"(\1)", text)


def identifier(i: int, alpha: bool) -> str:
    """The identifier of the ``i``-th passage (0-based) of a window: ``"1"``... or ``"A"``..."""
    return chr(ord("A") + i) if alpha else str(i + 1)


@dataclass(frozen=True)
class ListwiseTemplate:
    """A RankGPT-style single-turn listwise prompt: ``prefix``, one ``body`` line per passage, ``suffix``.

    Attributes:
        strategy: ``"listwise"``.
        version: template version.
        system: system message.
        prefix: text before the passages (``{num}``, ``{query}``).
        body: one passage (``{rank}``: its identifier, ``{candidate}``: its text).
        suffix: text after the passages (``{num}``, ``{query}``).
        alpha: identifiers are letters (``[A]``) rather than numbers (``[1]``).
    """

    strategy: str
    version: str
    system: str
    prefix: str
    body: str
    suffix: str
    alpha: bool = False

    #: the most passages one window may show (letters run out at Z)
    @property
    def max_window(self) -> int | None:
        return 26 if self.alpha else None

    def passage(self, text: str, title: str | None, max_words: float) -> tuple[str, bool]:
        """One passage as the prompt shows it, and whether it was cut to ``max_words`` words."""
        content = f"Title: {title} Content: {text}" if title else text
        words = _fix_text(content.strip()).split()
        keep = int(max_words)
        return replace_numbers(" ".join(words[:keep])), len(words) > keep

    def render(self, query: str, passages: Sequence[str]) -> Prompt:
        """The prompt for one window: ``passages`` already as :meth:`passage` makes them, best-first order unknown."""
        query = replace_numbers(query)
        num = len(passages)
        body = "".join(self.body.format(rank=identifier(i, self.alpha), candidate=p) for i, p in enumerate(passages))
        user = self.prefix.format(num=num, query=query) + body + self.suffix.format(num=num, query=query)
        return Prompt.chat(self.system, user)

    def answer_format(self, num: int) -> str:
        """A complete answer for ``num`` passages (``[1] > [2] > ...``): what a generation budget is sized on."""
        return " > ".join(f"[{identifier(i, self.alpha)}]" for i in range(num))


@dataclass(frozen=True)
class ComparisonTemplate:
    """A prompt that shows a few passages labelled ``A``, ``B``... and asks for the best one's label.

    Attributes:
        strategy: ``"pairwise"`` or ``"setwise"``.
        version: template version.
        system: system message (may be empty).
        prefix: text before the passages (``{query}``).
        passage_format: one passage (``{label}``, ``{passage}``); passages are joined by ``separator``.
        suffix: text after the passages.
        assistant_prefix: where the label is read: the position after it.
    """

    strategy: str
    version: str
    system: str
    prefix: str
    passage_format: str
    suffix: str
    assistant_prefix: str = "Passage:"
    separator: str = "\n\n"

    def labels(self, num: int) -> tuple[str, ...]:
        return tuple(identifier(i, True) for i in range(num))

    def render(self, query: str, passages: Sequence[str]) -> Prompt:
        shown = self.separator.join(self.passage_format.format(label=identifier(i, True), passage=p)
                                    for i, p in enumerate(passages))
        user = self.prefix.format(query=query) + shown + self.suffix
        return Prompt.chat(self.system, user, self.assistant_prefix)


_RANK_ZEPHYR_SYSTEM = ("You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to "
                       "the query")

def _rank_zephyr(version: str, alpha: bool) -> ListwiseTemplate:
    """rank_llm's RankZephyr template (``rank_zephyr_template.yaml``; ``alpha``: ``rank_zephyr_alpha_template.yaml``)."""
    kind, example = ("an alphabetical", "[B] > [A]") if alpha else ("a numerical", "[2] > [1]")
    return ListwiseTemplate(
        strategy="listwise", version=version, system=_RANK_ZEPHYR_SYSTEM, alpha=alpha,
        prefix=f"I will provide you with {{num}} passages, each indicated by {kind} identifier []. Rank the "
               "passages based on their relevance to the search query: {query}.\n",
        body="[{rank}] {candidate}\n",
        suffix="Search Query: {query}.\nRank the {num} passages above based on their relevance to the search "
               "query. All the passages should be included and listed using identifiers, in descending order of "
               f"relevance. The output format should be [] > [], e.g., {example}, Answer concisely and directly and "
               "only respond with the ranking results, do not say any word or explain.",
    )


LISTWISE_V1_ALPHA = register(_rank_zephyr("v1-alpha", alpha=True))  # type: ignore[arg-type]
LISTWISE_V1 = register(_rank_zephyr("v1", alpha=False))  # type: ignore[arg-type]


def _llm_rankers_prompt(strategy: str, question: str, answer: str) -> ComparisonTemplate:
    """A comparison prompt in llm-rankers' shape: the question about the query, the passages, the answer asked."""
    return ComparisonTemplate(strategy=strategy, version="v1", system="",
                              prefix=f'Given a query "{{query}}", {question}\n\n',
                              passage_format='Passage {label}: "{passage}"', suffix=f"\n\n{answer}")


PAIRWISE_V1 = register(_llm_rankers_prompt(  # type: ignore[arg-type]
    "pairwise", "which of the following two passages is more relevant to the query?",
    "Output Passage A or Passage B:"))

SETWISE_V1 = register(_llm_rankers_prompt(  # type: ignore[arg-type]
    "setwise", "which of the following passages is the most relevant one to the query?",
    "Output only the passage label of the most relevant passage:"))

__all__ = ["ComparisonTemplate", "LISTWISE_V1", "LISTWISE_V1_ALPHA", "ListwiseTemplate", "PAIRWISE_V1", "SETWISE_V1",
           "identifier", "replace_numbers"]
