"""vLLM backend: ``vllm.LLM`` in process (tensor parallel, prefix caching, LoRA).

Prompts are rendered with the model's chat template and sent as token ids
(exactly the ids the transformers backend scores), so both backends read the
same distributions. One ``LLM.generate`` call per batch of prompts; vLLM
schedules them with continuous batching and reuses the shared prompt prefix
(system message, instructions) through automatic prefix caching.

* Label strategies: ``SamplingParams(max_tokens=1, logprobs=top_logprobs)``.
  The label tokens' log-probabilities are read from the top-k (see
  :func:`~interank_sdk.backends.tokens.label_logprobs_from_top_k` for the floor
  given to a label outside it). Where the installed vLLM supports
  ``logprob_token_ids``, the label tokens are requested explicitly and their
  log-probabilities are exact (``label_mode="auto"``).
* Query likelihood: ``prompt_logprobs`` of the teacher-forced query tokens.
* Reasoning: batched greedy generation with stop strings, then the labels.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from ..errors import BackendError, InvalidInputError, ModelLoadError
from ..prompts import Prompt
from .base import Backend, CausalLM, Generation
from ..sources import ModelSource, local_snapshot, resolve_source
from .tokens import (
    LabelIds,
    count_tokens,
    exact_token_id,
    label_logprobs_from_top_k,
    leading_bos_id,
    prompt_token_ids,
    render_prompt,
    split_windows,
)

logger = logging.getLogger(__name__)

#: LoRA ranks vLLM accepts for ``max_lora_rank``; an adapter's rank is rounded up to one of them
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
_DTYPES = {"auto": "auto", "bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
           "half": "float16", "fp32": "float32", "float32": "float32", "float": "float32"}


def _vllm():
    return require("vllm", "vllm")


def logprob_value(entry: Any) -> float:
    """A log-probability from a vLLM ``Logprob`` object (``.logprob``) or a plain number."""
    return float(getattr(entry, "logprob", entry))


def resolve_lora(model: str | Path | ModelSource) -> tuple[str, str | None, int | None]:
    """``(base model, adapter folder or None, adapter rank or None)`` for a model or LoRA adapter folder.

    Raises:
        ModelLoadError: an adapter folder whose ``adapter_config.json`` names no base model.
    """
    source = model if isinstance(model, ModelSource) else resolve_source(model)
    if source.kind != "adapter":
        return source.path, None, None
    return source.path, source.adapter, source.adapter_rank


class VLLMEngine(Backend):
    """A ``vllm.LLM`` engine in this process: what the vLLM backends of every model kind share.

    Args:
        model: hub id, local folder, ``.gguf`` file (pass ``tokenizer=`` too) or a
            LoRA adapter folder: the base model is read from its
            ``adapter_config.json``, the engine starts with ``enable_lora=True``
            and every request carries a ``LoRARequest`` for the adapter.
        tensor_parallel_size: GPUs one model is split over.
        enable_prefix_caching: reuse the KV cache of shared prompt prefixes (on).
        max_model_len: context length to reserve (default: the model's).
        gpu_memory_utilization: fraction of accelerator memory vLLM may take
            (on vLLM's CPU build: the fraction of RAM); default vLLM's.
        tokenizer: tokenizer hub id/folder when it differs from the model's.
        engine_kwargs: more ``vllm.LLM`` arguments (``pipeline_parallel_size``,
            ``data_parallel_size``, ``enforce_eager``, ``max_num_seqs``, ``hf_overrides``...);
            unknown keyword arguments are passed through the same way.
        dtype: ``"auto"`` or a dtype name, passed to vLLM.
        quantization: ``None``, or ``"4bit"`` (vLLM's in-flight bitsandbytes 4-bit).
        device: ``"auto"``, or the device type vLLM runs on (``"cuda"``);
            choose GPUs with ``CUDA_VISIBLE_DEVICES``.
        batch_size: unused (vLLM schedules its own batches).
        local_files_only: load a hub model from the local cache only (its snapshot folder is
            passed to vLLM; no process-wide setting is changed).
        trust_remote_code: passed to vLLM.
        show_progress: vLLM's progress bars.
    """

    name = "vllm"
    #: ``vllm.LLM(runner=...)`` for this model kind (``None``: vLLM's default)
    runner: str | None = None
    #: unknown keyword options are engine arguments (passed to ``vllm.LLM``)
    passthrough_options = True

    def __init__(
        self,
        model: str | Path | ModelSource,
        *,
        tensor_parallel_size: int = 1,
        enable_prefix_caching: bool = True,
        max_model_len: int | None = None,
        gpu_memory_utilization: float | None = None,
        tokenizer: str | None = None,
        engine_kwargs: dict[str, Any] | None = None,
        device: str = "auto",
        dtype: Any = "auto",
        quantization: str | None = None,
        batch_size: int = 16,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        show_progress: bool = False,
        seed: int = 0,
        **extra_engine_args: Any,
    ) -> None:
        super().__init__()
        vllm = _vllm()
        if quantization not in (None, "4bit"):
            raise InvalidInputError(
                f"quantization={quantization!r} is not available on the vllm backend: use None, '4bit' "
                "(bitsandbytes in flight) or a pre-quantized checkpoint (AWQ/GPTQ/FP8)"
            )
        if str(dtype) not in _DTYPES:
            raise InvalidInputError(f"unknown dtype {dtype!r}; use 'auto', 'bfloat16', 'float16' or 'float32'")
        if tensor_parallel_size < 1:
            raise InvalidInputError(f"tensor_parallel_size must be >= 1, got {tensor_parallel_size}")
        platform = _platform_device()
        if device != "auto" and device.split(":")[0] != platform:
            raise InvalidInputError(
                f"device={device!r}: this vLLM runs on {platform!r}; vLLM picks devices itself "
                "(choose GPUs with CUDA_VISIBLE_DEVICES)"
            )
        del batch_size
        source = model if isinstance(model, ModelSource) else resolve_source(model, local_files_only=local_files_only)
        self.model_name = source.spec
        base, adapter, rank = resolve_lora(source)
        if local_files_only:
            base = local_snapshot(resolve_source(base, local_files_only=True)) if source.kind == "adapter" \
                else local_snapshot(source)
        self.adapter_path = adapter
        self.show_progress = show_progress
        args: dict[str, Any] = {
            "model": base,
            "tensor_parallel_size": tensor_parallel_size,
            "trust_remote_code": trust_remote_code,
            "dtype": _DTYPES[str(dtype)],
            "seed": seed,
        }
        if self.runner is not None:
            args["runner"] = self.runner
        else:
            args["enable_prefix_caching"] = enable_prefix_caching
        if tokenizer:
            args["tokenizer"] = str(tokenizer)
        if max_model_len is not None:
            args["max_model_len"] = max_model_len
        if gpu_memory_utilization is not None:
            args["gpu_memory_utilization"] = gpu_memory_utilization
        if quantization == "4bit":
            args["quantization"] = "bitsandbytes"
        if adapter:
            args["enable_lora"] = True
            if rank:
                args["max_lora_rank"] = next((r for r in LORA_RANKS if r >= rank), rank)
        args.update(engine_kwargs or {})
        args.update(extra_engine_args)
        self.engine_args = dict(args)
        logger.info("starting vllm.LLM(%s)", ", ".join(f"{k}={v!r}" for k, v in args.items()))
        try:
            self.llm = vllm.LLM(**args)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"vLLM cannot load {self.model_name!r}: {exc}") from exc
        except RuntimeError as exc:
            raise BackendError(f"the vLLM engine failed to start for {self.model_name!r}: {exc}") from exc
        self.lora_request = None
        if adapter:
            from vllm.lora.request import LoRARequest

            self.lora_request = LoRARequest(Path(adapter).name or "adapter", 1, adapter)
        self.tokenizer = self.llm.get_tokenizer()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return count_tokens(self.tokenizer, texts)

    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        return split_windows(self.tokenizer, text, max_tokens, overlap)

    def close(self) -> None:
        """Shut the vLLM engine down (its worker processes and memory) now rather than at exit."""
        engine = getattr(getattr(self, "llm", None), "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self.llm = None

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "kind": self.kind, "model": self.model_name, "adapter": self.adapter_path,
                **{k: v for k, v in self.engine_args.items() if k != "model"}}


class VLLMBackend(VLLMEngine, CausalLM):
    """A causal LM on vLLM: label tokens, query likelihood and generation.

    Takes every option of :class:`VLLMEngine`, and:

    Args:
        top_logprobs: alternatives returned per label position (vLLM's
            ``max_logprobs`` defaults to 20).
        label_mode: ``"auto"`` (exact label log-probs through
            ``logprob_token_ids`` where vLLM has it, else top-k), ``"top_k"``.

    Example:
        >>> from interank_sdk import Reranker
        >>> reranker = Reranker("Qwen/Qwen2.5-3B-Instruct", backend="vllm", strategy="qlm",
        ...                     tensor_parallel_size=2)  # doctest: +SKIP
    """


    def __init__(self, model: Any, *, top_logprobs: int = 20, label_mode: str = "auto", **options: Any) -> None:
        if label_mode not in ("auto", "top_k"):
            raise InvalidInputError(f"label_mode must be 'auto' or 'top_k', got {label_mode!r}")
        super().__init__(model, **options)
        vllm = _vllm()
        self.top_logprobs = top_logprobs
        self._bos_id = leading_bos_id(self.tokenizer)
        self._label_ids = LabelIds(self.tokenizer, self.model_name)
        fields = set(inspect.signature(vllm.SamplingParams).parameters)
        self.exact_labels = label_mode == "auto" and "logprob_token_ids" in fields

    # ------------------------------------------------------------- text/tokens
    def render(self, prompt: Prompt) -> str:
        return render_prompt(self.tokenizer, prompt)

    def prompt_length(self, prompt: Prompt) -> int:
        return len(prompt_token_ids(self.tokenizer, [prompt], self._bos_id)[0])

    def token_id(self, text: str) -> int:
        return exact_token_id(self.tokenizer, text, self.model_name)

    def label_token_ids(self, label: str, *, variants: bool = True) -> list[int]:
        """Single-token ids of a label (with its variants, by default); cached. Raises LabelTokenError if none."""
        return self._label_ids(label, variants=variants)

    def _prompts(self, prompts: Sequence[Prompt]) -> list[Any]:
        from vllm.inputs import TokensPrompt

        return [TokensPrompt(prompt_token_ids=ids) for ids in prompt_token_ids(self.tokenizer, prompts, self._bos_id)]

    def _run(self, prompts: list[Any], params: Any) -> list[Any]:
        self.forward_passes += 1
        try:
            return self.llm.generate(prompts, params, use_tqdm=self.show_progress, lora_request=self.lora_request)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"vLLM failed: {exc}") from exc

    # ------------------------------------------------------------------ scores
    @property
    def exact_label_logprobs(self) -> bool:
        return bool(self.exact_labels)

    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str], *, variants: bool = True) -> np.ndarray:
        if not prompts:
            return np.zeros((0, len(labels)), dtype=np.float64)
        vllm = _vllm()
        ids_per_label = [self.label_token_ids(label, variants=variants) for label in labels]
        options: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0, "logprobs": self.top_logprobs}
        if self.exact_labels:
            wanted = sorted({i for ids in ids_per_label for i in ids})
            options.update(logprob_token_ids=wanted, logprobs=len(wanted))
        outputs = self._run(self._prompts(prompts), vllm.SamplingParams(**options))
        rows = []
        for out in outputs:
            top = {int(tok): logprob_value(lp) for tok, lp in out.outputs[0].logprobs[0].items()}
            rows.append(label_logprobs_from_top_k(top, [set(ids) for ids in ids_per_label]))
        return np.stack(rows)

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[np.ndarray]:
        if len(prompts) != len(continuations):
            raise InvalidInputError("prompts and continuations differ in length")
        if not prompts:
            return []
        vllm = _vllm()
        from vllm.inputs import TokensPrompt

        heads = prompt_token_ids(self.tokenizer, prompts, self._bos_id)
        tails = self.tokenizer(list(continuations), add_special_tokens=False).input_ids
        if any(len(t) == 0 for t in tails):
            raise InvalidInputError("a continuation encodes to zero tokens")
        rows = [h + list(t) for h, t in zip(heads, tails)]
        params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        outputs = self._run([TokensPrompt(prompt_token_ids=r) for r in rows], params)
        result = []
        for row, tail, out in zip(rows, tails, outputs):
            entries = out.prompt_logprobs[len(row) - len(tail) :]
            result.append(np.asarray(
                [logprob_value(entry[tok]) for entry, tok in zip(entries, tail)], dtype=np.float64
            ))
        return result

    def generate(self, prompts: Sequence[Prompt], *, max_new_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        if not prompts:
            return []
        vllm = _vllm()
        params = vllm.SamplingParams(max_tokens=max_new_tokens, temperature=0.0, stop=list(stop) or None)
        gens = []
        for out in self._run(self._prompts(prompts), params):
            o = out.outputs[0]
            stopped_at = o.stop_reason if isinstance(o.stop_reason, str) else None
            gens.append(Generation(
                text=o.text, num_tokens=len(o.token_ids), hit_budget=o.finish_reason == "length", stopped_at=stopped_at
            ))
        return gens

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "exact_labels": self.exact_labels}


def _platform_device() -> str:
    """The device type of the installed vLLM build (``"cuda"``, ``"cpu"``, ``"rocm"``...)."""
    try:
        from vllm.platforms import current_platform

        return str(getattr(current_platform, "device_type", "cuda") or "cuda")
    except Exception:  # noqa: BLE001 - very old or unusual builds
        return "cuda"
