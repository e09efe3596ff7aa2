"""A causal LM whose preferences are known exactly, for the ordering algorithms' tests.

Mocked on purpose: the sort and sliding-window algorithms of listwise, pairwise
and setwise reranking are checked against the reference libraries (rank_llm,
llm-rankers) by feeding both the same answers, and only a model whose answers
are a known function of the passages shown makes that comparison exact; real
small LLMs answer these prompts almost at random (the real-model tests are in
test_ordering.py too). Every passage starts with a tag word (``d07``) whose
relevance is in :attr:`OracleLM.relevance`; the oracle reads the rendered
prompt and answers as a perfect judge would (or as a scripted bad one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from interank_sdk.backends.base import CausalLM, Generation
from interank_sdk.prompts import Prompt

_LIST_LINE = re.compile(r"^\[([A-Z]|\d+)\] (\S+)", re.MULTILINE)
_COMPARED = re.compile(r'Passage ([A-Z]): "(\S+)')


class OracleLM(CausalLM):
    """Answers list, comparison and identifier questions from ``relevance[tag]`` (whitespace tokens).

    Args:
        relevance: the relevance of each passage tag (higher is better).
        corrupt: maps the perfect generated permutation text to the text answered (a model that repeats,
            skips or invents identifiers).
        position_bias: added to the label logit of the first passage shown (a model that prefers ``A``).
        exact: whether it says it reads every label's own log-probability (``False``: as a server's top-k).
    """

    name = "oracle"

    def __init__(self, relevance: dict[str, float], *, corrupt: Callable[[str], str] | None = None,
                 position_bias: float = 0.0, exact: bool = True) -> None:
        super().__init__()
        self.model_name = "oracle"
        self.relevance = relevance
        self.corrupt = corrupt
        self.position_bias = position_bias
        self.calls: dict[str, int] = {"generate": 0, "labels": 0}
        self.prompts: list[str] = []
        self._exact = exact

    # --- Backend
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        words = text.split()
        step = max(1, max_tokens - overlap)
        return [" ".join(words[i:i + max_tokens]) for i in range(0, max(1, len(words) - overlap), step)] or [text]

    # --- CausalLM
    def render(self, prompt: Prompt) -> str:
        return "\n".join(m["content"] for m in prompt.messages) + prompt.assistant_prefix

    def token_id(self, text: str) -> int:
        assert len(text) == 1, text
        return ord(text)

    def _rel(self, tag: str) -> float:
        return self.relevance[tag]

    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str], *, variants: bool = True) -> np.ndarray:
        self.calls["labels"] += 1
        rows = []
        for prompt in prompts:
            text = self.render(prompt)
            self.prompts.append(text)
            shown = dict(_COMPARED.findall(text)) or dict(_LIST_LINE.findall(text))  # comparisons, or FIRST
            logits = np.array([self._rel(shown[label]) + (self.position_bias if label == "A" else 0.0)
                               for label in labels])
            rows.append(logits - np.logaddexp.reduce(logits))
        return np.array(rows)

    @property
    def exact_label_logprobs(self) -> bool:
        return self._exact

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[np.ndarray]:
        raise self._unsupported("score continuations (an oracle of orders only)")

    def generate(self, prompts: Sequence[Prompt], *, max_new_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        self.calls["generate"] += 1
        out = []
        for prompt in prompts:
            text = self.render(prompt)
            self.prompts.append(text)
            answer = permutation_text(text, self._rel)
            if self.corrupt is not None:
                answer = self.corrupt(answer)
            out.append(Generation(answer, len(answer.split()), False))
        return out


def permutation_text(prompt_text: str, relevance: Callable[[str], float]) -> str:
    """The perfect answer to a listwise prompt: its identifiers by decreasing relevance (ties: shown order)."""
    shown = _LIST_LINE.findall(prompt_text)
    ranked = sorted(range(len(shown)), key=lambda i: -relevance(shown[i][1]))
    return " > ".join(f"[{shown[i][0]}]" for i in ranked)


def tagged_documents(n: int, seed: int = 0, words: int = 12) -> tuple[list[str], dict[str, float]]:
    """``n`` passages ``"dNN filler..."`` and a relevance per tag, distinct and shuffled (seeded)."""
    rng = np.random.default_rng(seed)
    rel = rng.permutation(n).astype(float)
    docs = [f"d{i:02d} " + " ".join(f"w{(i * 7 + j) % 50}" for j in range(words - 1)) for i in range(n)]
    return docs, {f"d{i:02d}": float(rel[i]) for i in range(n)}


def ideal_order(relevance: dict[str, float]) -> list[int]:
    """Positions of the tagged documents by decreasing relevance."""
    tags = sorted(relevance)
    return sorted(range(len(tags)), key=lambda i: -relevance[tags[i]])


__all__ = ["OracleLM", "ideal_order", "permutation_text", "tagged_documents"]
