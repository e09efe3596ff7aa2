"""Generation helpers for the transformers causal backend: end-of-sequence ids and stop strings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def eos_ids(tokenizer: Any, model: Any) -> set[int]:
    """Every id that ends a generation: the tokenizer's EOS and the model's generation config's."""
    out: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if value is None:
            continue
        out |= set(value if isinstance(value, list) else [value])
    return out


def first_stop(text: str, stop: Sequence[str]) -> tuple[int, str] | None:
    """Position and value of the earliest stop string in ``text``."""
    found = [(text.find(s), s) for s in stop if s and text.find(s) >= 0]
    return min(found) if found else None


def cut_at_stop(tokenizer: Any, tokens: list[int], stop: Sequence[str]) -> tuple[str, int, str | None]:
    """Text before the first stop string, the tokens it took to write it (stop included), and the stop.

    Rows of a batch that stopped early are padded by ``generate``; counting stops
    at the token that completed the stop string, so padding is never counted.
    """
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    first = first_stop(text, stop)
    if first is None:
        return text, len(tokens), None
    at, value = first
    used = len(tokens)
    for n in range(1, len(tokens) + 1):
        if first_stop(tokenizer.decode(tokens[:n], skip_special_tokens=True), stop) is not None:
            used = n
            break
    return text[:at], used, value


def stopping_criteria(tokenizer: Any, prompt_length: int, stop: Sequence[str]) -> Any:
    """A ``StoppingCriteriaList`` that ends each row once its new text contains a stop string."""
    import torch
    import transformers

    window = 32  # new tokens decoded per check: enough for any stop string we use

    class StopOnStrings(transformers.StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = []
            for row in input_ids[:, prompt_length:].tolist():
                tail = tokenizer.decode(row[-window:], skip_special_tokens=True)
                done.append(first_stop(tail, stop) is not None)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return transformers.StoppingCriteriaList([StopOnStrings()])


__all__ = ["cut_at_stop", "eos_ids", "first_stop", "stopping_criteria"]
