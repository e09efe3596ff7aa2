"""Query generation: the teacher writes search queries for a QA pair (InteRank), or for a bare passage (InPars).

The prompt is a versioned :class:`interank_sdk.prompts.PromptTemplate` (the
question fills ``{query}``, the accepted answer ``{passage}``), rendered by the
teacher's backend with its chat template. The teacher generates greedily; the
output is parsed one query per line (numbering, bullets and quotes removed),
deduplicated, and queries that are too short or too long are rejected and
counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from interank_sdk.prompts import Prompt, PromptTemplate, neutralize_markers

QUERYGEN_V1 = PromptTemplate(
    strategy="querygen",
    version="v1",
    system="You write search queries. A user has a question; the accepted answer below solves it. "
    "Write queries the user could type into a search engine to find such an answer.",
    user="Question: {query}\n\nAccepted answer: {passage}\n\n"
    "Write {n} different search queries for this question, each a short phrase or question "
    "(3 to 20 words) that the answer satisfies. Vary the wording and the aspect of the problem. "
    "Write one query per line, with no numbering and no other text.",
    assistant_prefix="",
)
#: query-generation templates by version
QUERYGEN_TEMPLATES = {"v1": QUERYGEN_V1}

#: few-shot query generation for a bare passage (InPars / Promptagator style), as a chat: each example is
#: a user turn (the passage) and an assistant turn (its query), then the passage to write a query for
PASSAGE_QUERYGEN_SYSTEM = (
    "You write the search query that a user typed before finding the passage they are shown. "
    "Answer with the query only: a few words or a short question, on one line."
)
#: built-in few-shot examples (written for this prompt; none comes from an evaluation set)
FEWSHOT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("The mitochondrion is an organelle found in most eukaryotic cells. It produces adenosine triphosphate "
     "(ATP), the main energy carrier of the cell, through cellular respiration.",
     "what does the mitochondria do in a cell"),
    ("To reset a forgotten Windows password, start the computer from the installation media, open the "
     "recovery options, choose Command Prompt and replace the accessibility tool with cmd.exe.",
     "how to reset windows password without logging in"),
    ("Registered nurses in Texas earn an average of about $79,000 per year; nurses in Houston and Dallas "
     "earn more than those in rural counties.",
     "average registered nurse salary in texas"),
)


def passage_querygen_prompt(passage: str, examples: tuple[tuple[str, str], ...] = FEWSHOT_EXAMPLES) -> Prompt:
    """The few-shot chat asking for the search query that ``passage`` answers.

    Example:
        >>> prompt = passage_querygen_prompt("Paris is the capital of France.")
        >>> [m["role"] for m in prompt.messages][:3], prompt.messages[-1]["content"]
        (['system', 'user', 'assistant'], 'Passage: Paris is the capital of France.')
    """
    messages = [{"role": "system", "content": PASSAGE_QUERYGEN_SYSTEM}]
    for example_passage, example_query in examples:
        messages += [{"role": "user", "content": f"Passage: {example_passage}"},
                     {"role": "assistant", "content": example_query}]
    messages.append({"role": "user", "content": f"Passage: {neutralize_markers(passage)}"})
    return Prompt(tuple(messages))


def copies_example(query: str, examples: tuple[tuple[str, str], ...] = FEWSHOT_EXAMPLES) -> bool:
    """Whether a generated query repeats a few-shot example (its query, or words of its passage) instead of
    describing the passage it was asked about: small models copy the examples.

    Example:
        >>> copies_example("what does the mitochondria do in a cell"), copies_example("capital of france")
        (True, False)
    """
    text = " ".join(query.lower().split())
    for example_passage, example_query in examples:
        if text == " ".join(example_query.lower().split()) or (len(text) > 20 and text in example_passage.lower()):
            return True
    return False


_BULLET = re.compile(r"^\s*(?:[-*\u2022>]+|\(?\d{1,2}[.):]|q(?:uery)?\s*\d*\s*[:.)-])\s*", re.IGNORECASE)


@dataclass
class ParsedQueries:
    """Queries parsed from one generation.

    Attributes:
        queries: the kept queries, in generation order.
        rejected: lines rejected (empty after cleaning, too short, too long, duplicates).
        reasons: rejected lines by reason.
    """

    queries: list[str]
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def querygen_prompt(question: str, answer: str, n: int, version: str = "v1") -> Prompt:
    """The query-generation prompt for one QA pair (asks for ``n`` queries)."""
    template = QUERYGEN_TEMPLATES[version]
    template = replace(template, user=template.user.replace("{n}", str(n)))
    return template.render(question, answer)


def parse_queries(text: str, n: int, *, min_words: int = 2, max_words: int = 32, exclude: str | None = None) -> ParsedQueries:
    """Parse up to ``n`` queries from a generation, one per line.

    Example:
        >>> parse_queries("1. why are insects drawn to light\\n- insect LED attraction heat\\n", 3).queries
        ['why are insects drawn to light', 'insect LED attraction heat']
    """
    kept: list[str] = []
    seen = {exclude.strip().lower()} if exclude else set()
    reasons: dict[str, int] = {}

    def reject(reason: str) -> None:
        reasons[reason] = reasons.get(reason, 0) + 1

    for line in text.splitlines():
        if not line.strip():
            continue
        query = _BULLET.sub("", line).strip().strip("\"'`").strip()
        words = query.split()
        if len(words) < min_words:
            reject("too_short")
        elif len(words) > max_words:
            reject("too_long")
        elif query.lower() in seen:
            reject("duplicate")
        elif len(kept) >= n:
            reject("beyond_n")
        else:
            kept.append(query)
            seen.add(query.lower())
    return ParsedQueries(kept, sum(reasons.values()), reasons)


__all__ = [
    "QUERYGEN_V1", "QUERYGEN_TEMPLATES", "PASSAGE_QUERYGEN_SYSTEM", "FEWSHOT_EXAMPLES", "ParsedQueries",
    "querygen_prompt", "passage_querygen_prompt", "copies_example", "parse_queries",
]
