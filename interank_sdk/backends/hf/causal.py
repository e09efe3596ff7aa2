"""Causal language models in process with transformers: label tokens, query likelihood, generation.

Scoring never calls ``generate()``: one forward pass per batch, logits
computed for the last position(s) only (``logits_to_keep``), batches sorted
by length with left padding and explicit position ids, so a padded batch
gives the same numbers as one sequence at a time (up to floating-point
noise). The token prefix that every sequence of a batch shares (system
prompt, instructions) is computed once and its cache reused.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ...prompts import Prompt
from ..base import CausalLM, Generation
from ..tokens import LabelIds, exact_token_id, leading_bos_id, prompt_token_ids, render_prompt
from .generation import cut_at_stop, eos_ids, stopping_criteria
from .runtime import HFRuntime, _torch

logger = logging.getLogger(__name__)


def label_logprobs_from_logits(logits: Any, ids_per_label: Sequence[Sequence[int]]) -> Any:
    """``(batch, n_labels)`` log-probabilities of each label at one position: ``log_softmax`` over the vocabulary,
    each label's surface variants (``ids_per_label[j]``) summed in probability. Differentiable: the trainer
    computes its label scores with it (``interank_sdk.training``) as inference does."""
    torch = _torch()
    logp = torch.log_softmax(logits, dim=-1)
    return torch.stack([torch.logsumexp(logp[:, list(ids)], dim=-1) for ids in ids_per_label], dim=-1)


class HFBackend(HFRuntime, CausalLM):
    """A causal language model (``AutoModelForCausalLM``) in process.

    Takes every option of :class:`~interank_sdk.backends.hf.runtime.HFRuntime`, and:

    Args:
        prefix_sharing: compute the token prefix that all sequences of a batch
            share once and run only the rest of each sequence over its cached
            keys/values. Same scores up to float rounding; off for debugging.

    Example:
        >>> from interank_sdk.backends.hf import HFBackend
        >>> backend = HFBackend("Qwen/Qwen2.5-0.5B-Instruct", dtype="float32")  # doctest: +SKIP
    """

    task = "causal-lm"

    #: a shorter shared prefix is not worth a separate pass
    MIN_SHARED_PREFIX = 16

    def __init__(self, model: Any, *, prefix_sharing: bool = True, **options: Any) -> None:
        super().__init__(model, **options)
        if self.tokenizer.pad_token_id is None:
            # left padding is masked out, so any id serves; the model's own pad id stays untouched
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.prefix_sharing = prefix_sharing
        self._label_ids = LabelIds(self.tokenizer, self.model_name)
        params = inspect.signature(self.model.forward).parameters
        self._has_logits_to_keep = "logits_to_keep" in params
        # transformers renamed the cache argument (`past_key_values` -> `cache`, the old name goes in 5.40)
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._bos_id: int | None = leading_bos_id(self.tokenizer)

    @property
    def context_tokens(self) -> int | None:
        value = getattr(self.model.config, "max_position_embeddings", None)
        return int(value) if isinstance(value, int) and value > 0 else None

    # ------------------------------------------------------------- text/tokens
    def render(self, prompt: Prompt) -> str:
        return render_prompt(self.tokenizer, prompt)

    def prompt_ids(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        """Token ids of prompts as the model reads them (chat template or raw segments)."""
        return prompt_token_ids(self.tokenizer, prompts, self._bos_id)

    def prompt_length(self, prompt: Prompt) -> int:
        return len(self.prompt_ids([prompt])[0])

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of rendered prompts (BOS added where the tokenizer expects it)."""
        from ..tokens import encode_rendered

        return encode_rendered(self.tokenizer, texts, self._bos_id)

    def label_token_ids(self, label: str, *, variants: bool = True) -> list[int]:
        """Single-token ids of a label (with its variants, by default); cached. Raises LabelTokenError if none."""
        return self._label_ids(label, variants=variants)

    def token_id(self, text: str) -> int:
        return exact_token_id(self.tokenizer, text, self.model_name)

    # ------------------------------------------------------------------ compute
    def _forward_last(self, rows: Sequence[Sequence[int]], keep: int):
        """Logits (float32) for the last ``keep`` positions of each row: ``(B, keep, V)``.

        With ``prefix_sharing``, the longest token prefix common to all rows
        (short of the last ``keep`` tokens of each) is run once and its cache
        repeated over the batch; only the rest of each row is run. Counts as
        one forward pass.
        """
        torch = _torch()
        shared = self._shared_prefix(rows, keep)
        if shared:
            cache = self._prefix_cache(rows[0][:shared], len(rows))
            rows = [r[shared:] for r in rows]
        input_ids, mask, positions = self.batch_tensors(rows)
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions,
                                  "use_cache": False}
        if shared:
            ones = torch.ones((len(rows), shared), dtype=mask.dtype, device=mask.device)
            kwargs.update(attention_mask=torch.cat([ones, mask], dim=1), position_ids=positions + shared,
                          use_cache=True)
            kwargs[self._cache_arg] = cache
        if self._has_logits_to_keep:
            kwargs["logits_to_keep"] = keep
        with torch.inference_mode():
            logits = self.model(**kwargs).logits[:, -keep:, :]
            self.forward_passes += 1
            return logits.float()

    def _shared_prefix(self, rows: Sequence[Sequence[int]], keep: int) -> int:
        """Length of the prefix worth sharing across ``rows`` (0: do not share)."""
        if not self.prefix_sharing or len(rows) < 2 or self.quantization in ("4bit", "8bit"):
            return 0
        limit = min(len(r) for r in rows) - keep
        first = rows[0]
        n = 0
        while n < limit and all(r[n] == first[n] for r in rows):
            n += 1
        return n if n >= self.MIN_SHARED_PREFIX else 0

    def _prefix_cache(self, prefix: Sequence[int], batch: int) -> Any:
        """Keys/values of ``prefix`` computed once, repeated ``batch`` times."""
        torch = _torch()
        ids = torch.tensor([list(prefix)], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            kwargs: dict[str, Any] = {"input_ids": ids, "use_cache": True}
            if self._has_logits_to_keep:
                kwargs["logits_to_keep"] = 1
            out = self.model(**kwargs)
        cache = out.cache if self._cache_arg == "cache" else out.past_key_values
        cache.batch_repeat_interleave(batch)
        return cache

    def _last_position(self, prompts: Sequence[Prompt], fn_of_logits: Any) -> np.ndarray:
        rows = self.prompt_ids(prompts)
        return np.stack(self._run_batches(rows, lambda batch: fn_of_logits(self._forward_last(batch, 1)[:, -1, :]),
                                          "scoring"))

    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str], *, variants: bool = True) -> np.ndarray:
        if not prompts:
            return np.zeros((0, len(labels)), dtype=np.float64)
        ids_per_label = [self.label_token_ids(label, variants=variants) for label in labels]

        def fn(logits: Any) -> list[np.ndarray]:
            return list(label_logprobs_from_logits(logits, ids_per_label).double().cpu().numpy())

        return self._last_position(prompts, fn)

    def token_logits(self, prompts: Sequence[Prompt], token_ids: Sequence[int]) -> np.ndarray:
        if not prompts:
            return np.zeros((0, len(token_ids)), dtype=np.float64)
        wanted = [int(t) for t in token_ids]
        return self._last_position(prompts, lambda logits: list(logits[:, wanted].double().cpu().numpy()))

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[np.ndarray]:
        torch = _torch()
        if len(prompts) != len(continuations):
            raise InvalidInputError("prompts and continuations differ in length")
        if not prompts:
            return []
        heads = self.prompt_ids(prompts)
        tails = self.tokenizer(list(continuations), add_special_tokens=False, verbose=False).input_ids
        if any(len(t) == 0 for t in tails):
            raise InvalidInputError("a continuation encodes to zero tokens")
        rows = [h + t for h, t in zip(heads, tails)]
        tail_len = {id(r): len(t) for r, t in zip(rows, tails)}

        def fn(batch: list[Sequence[int]]) -> list[np.ndarray]:
            lengths = [tail_len[id(r)] for r in batch]
            keep = max(lengths) + 1
            logp = torch.log_softmax(self._forward_last(batch, keep), dim=-1)
            out = []
            for b, (row, n) in enumerate(zip(batch, lengths)):
                targets = torch.tensor(list(row[-n:]), device=logp.device)
                preds = logp[b, keep - n - 1 : keep - 1, :]
                out.append(preds.gather(-1, targets[:, None])[:, 0].double().cpu().numpy())
            return out

        return self._run_batches(rows, fn, "scoring")

    def generate(self, prompts: Sequence[Prompt], *, max_new_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        torch = _torch()
        if not prompts:
            return []
        rows = self.prompt_ids(prompts)
        ends = eos_ids(self.tokenizer, self.model)

        def fn(batch: list[Sequence[int]]) -> list[Generation]:
            input_ids, mask, _ = self.batch_tensors(batch)
            kwargs: dict[str, Any] = {
                "input_ids": input_ids, "attention_mask": mask, "max_new_tokens": max_new_tokens,
                "do_sample": False, "pad_token_id": self.tokenizer.pad_token_id,
            }
            if stop:
                # our own criterion: transformers' stop_strings needs a tokenizer whose
                # tokens round-trip through convert_tokens_to_string, not every one does
                kwargs["stopping_criteria"] = stopping_criteria(self.tokenizer, input_ids.shape[1], stop)
            with torch.inference_mode():
                out = self.model.generate(**kwargs)
            self.forward_passes += 1
            gens = []
            for seq in out[:, input_ids.shape[1]:].cpu().tolist():
                tokens: list[int] = []
                ended = False
                for t in seq:
                    if t in ends:
                        ended = True
                        break
                    tokens.append(t)
                text, used, stopped_at = cut_at_stop(self.tokenizer, tokens, stop)
                hit = stopped_at is None and not ended and used >= max_new_tokens
                gens.append(Generation(text=text, num_tokens=used, hit_budget=hit, stopped_at=stopped_at))
            return gens

        return self._run_batches(rows, fn, "generating", bound_padding=False)


__all__ = ["HFBackend"]
