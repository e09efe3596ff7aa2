"""LLM rerankers that read yes/no with their own prompt: named presets of their reference input format.

Each preset reproduces its model card's reference code exactly: the same
fixed text around the pair, tokenized segment by segment as the reference
does (so token boundaries match), and the same tokens read at the last
position. Detected from the model's files (:mod:`interank_sdk.detect`) or
chosen with ``strategy=``.

* ``qwen3-reranker`` (Qwen3-Reranker-0.6B/4B/8B): its system prompt, the
  ``<Instruct>``/``<Query>``/``<Document>`` user turn, an empty think block;
  score = P("yes") / (P("yes") + P("no")). ``instruction=`` sets the task
  instruction (default: the card's web-search one).
* ``bge-reranker-gemma`` (BAAI/bge-reranker-v2-gemma, FlagEmbedding's
  ``FlagLLMReranker``): ``<bos>A: {query}\\nB: {passage}\\n{prompt}``; score =
  sigmoid(logit of "Yes"), FlagEmbedding's ``normalize=True``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..backends.base import CausalLM
from ..errors import InvalidInputError
from ..prompts import Prompt
from .base import Judgment, Strategy, sigmoid

#: the version of the reference formats below (a change would be a new version)
PRESET_FORMAT_VERSION = "v1"


class _PresetStrategy(Strategy[CausalLM]):
    has_template = False
    default_instruction: str = ""

    def __init__(self, prompt_version: str | None = None, *, instruction: str | None = None) -> None:
        super().__init__(None)
        if prompt_version not in (None, PRESET_FORMAT_VERSION):
            raise InvalidInputError(f"{self.name} has one input format, {PRESET_FORMAT_VERSION!r}; got {prompt_version!r}")
        if instruction is not None and (not isinstance(instruction, str) or not instruction.strip()):
            raise InvalidInputError("instruction must be a non-empty string")
        self.instruction = instruction or self.default_instruction

    @property
    def version(self) -> str:
        return PRESET_FORMAT_VERSION

    def options(self) -> dict[str, object]:
        return {"instruction": self.instruction}


class Qwen3RerankerStrategy(_PresetStrategy):
    """Qwen3-Reranker's input format and its yes/no read-out (see the module docstring)."""

    name = "qwen3-reranker"
    SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
              'Note that the answer can only be "yes" or "no".')
    PREFIX = "<|im_start|>system\n" + SYSTEM + "<|im_end|>\n<|im_start|>user\n"
    SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    default_instruction = "Given a web search query, retrieve relevant passages that answer the query"

    def prompt(self, query: str, passage: str) -> Prompt:
        body = f"<Instruct>: {self.instruction}\n<Query>: {query}\n<Document>: {passage}"
        return Prompt(segments=(self.PREFIX, body, self.SUFFIX))

    def judge(self, backend: CausalLM, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        if not pairs:
            return []
        logp = backend.label_logprobs([self.prompt(q, p) for q, p in pairs], ["yes", "no"], variants=False)
        out = []
        for yes, no in np.asarray(logp, dtype=np.float64):
            p_yes = sigmoid(yes - no)
            out.append(Judgment(score=p_yes, raw_score=float(yes - no), label="yes" if p_yes >= 0.5 else "no",
                                label_probs={"yes": p_yes, "no": 1.0 - p_yes}))
        return out


class BGEGemmaRerankerStrategy(_PresetStrategy):
    """bge-reranker-v2-gemma's input format and its "Yes" logit (see the module docstring)."""

    name = "bge-reranker-gemma"
    default_instruction = ("Given a query A and a passage B, determine whether the passage contains an answer to "
                           "the query by providing a prediction of either 'Yes' or 'No'.")

    def prompt(self, query: str, passage: str) -> Prompt:
        return Prompt(segments=(f"A: {query}", "\n", f"B: {passage}", "\n", self.instruction), bos=True)

    def judge(self, backend: CausalLM, pairs: Sequence[tuple[str, str]]) -> list[Judgment]:
        if not pairs:
            return []
        yes = backend.token_id("Yes")
        logits = backend.token_logits([self.prompt(q, p) for q, p in pairs], [yes])[:, 0]
        out = []
        for x in np.asarray(logits, dtype=np.float64):
            out.append(Judgment(score=sigmoid(float(x)), raw_score=float(x)))
        return out


__all__ = ["BGEGemmaRerankerStrategy", "PRESET_FORMAT_VERSION", "Qwen3RerankerStrategy"]
