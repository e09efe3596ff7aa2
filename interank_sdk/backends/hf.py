"""Hugging Face transformers backend (in process; optional 4-bit/8-bit, LoRA, GGUF).

Scoring never calls ``generate()``: one forward pass per batch, logits computed
for the last position(s) only (``logits_to_keep``), batches sorted by length
with left padding and explicit position ids, so a padded batch gives the same
numbers as one sequence at a time (up to floating-point noise).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from ..errors import (
    BackendError,
    InvalidInputError,
    ModelLoadError,
    UnsupportedError,
)
from ..prompts import Prompt
from .base import Backend, Generation
from .tokens import (  # shared with the vLLM and OpenAI backends
    count_tokens,
    encode_rendered,
    has_tokenizer,
    label_variants,  # noqa: F401  (re-exported; moved to tokens.py)
    leading_bos_id,
    render_prompt,
    single_token_ids,
)
from .tokens import split_windows as split_token_windows

logger = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def _torch():
    return require("torch", "hf")


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnsupportedError(f"device={device!r} was requested but CUDA is not available")
    return device


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 instructions (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: Any, device: str):
    """``"auto"`` -> bf16 where the hardware runs it natively, else fp32 (fp16 on old GPUs)."""
    torch = _torch()
    if dtype is None or dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_supports_bf16() else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
             "half": "float16", "fp32": "float32", "float32": "float32", "float": "float32"}
    if str(dtype) not in names:
        raise InvalidInputError(f"unknown dtype {dtype!r}; use 'auto', 'bfloat16', 'float16' or 'float32'")
    return getattr(torch, names[str(dtype)])


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc


class HFBackend(Backend):
    """Run a causal language model in process with transformers.

    Args:
        model: hub id, local model folder, ``.gguf`` file (converted once to a
            cached safetensors folder) or LoRA adapter folder (its base model is
            read from ``adapter_config.json`` and the adapter applied with peft).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        dtype: ``"auto"`` (bf16 where native, else fp32), or a dtype name.
        quantization: ``None``; ``"4bit"`` (NF4) or ``"8bit"`` via bitsandbytes
            (CUDA); ``"int8"``: int8 weights and per-token int8 activations with
            int32 accumulation on the CPU (:mod:`.int8`, plain PyTorch; about 2x
            faster than fp32 on CPUs with AVX512-VNNI or AMX, scores within a
            few hundredths of fp32's).
        batch_size: sequences per forward pass (halved automatically on OOM).
        local_files_only: never contact the hub (offline use).
        trust_remote_code: allow model code from the hub (off unless asked).
        revision: hub revision (branch, tag or commit).
        cache_dir: hub cache folder.
        merge_adapter: merge a LoRA adapter into the weights for speed
            (ignored for quantized models).
        show_progress: show a progress bar over batches.
        prefix_sharing: compute the token prefix that all sequences of a batch
            share (system prompt, chat header, and for ``graded`` and ``yesno`` v1 the
            query) once, and run only the rest of each sequence over its cached
            keys/values. Same scores up to float rounding; off for debugging.
        max_padding: a length-sorted batch stops growing before its padding
            exceeds this fraction of its tokens (``None``: always ``batch_size``
            rows). ``"auto"``: 0.1 on CPU, where one sequence already runs at
            the matmul peak and padding is computed like real tokens (16-row
            batches of 20 DL19 candidates were 37% padding), ``None`` on GPUs,
            where larger batches fill the device. Scoring passes only:
            generation keeps full batches (its decode steps cost about the
            same for one row as for a batch).
        keep_freed_memory: on CPU, keep freed memory in the process for the
            next batch instead of returning it to the kernel (glibc ``mallopt``,
            process-wide, once; :mod:`.cpu_alloc`): large batch tensors then
            reuse pages instead of faulting fresh ones. Also off with the
            environment variable ``INTERANK_KEEP_FREED_MEMORY=0``.
    """

    name = "hf"

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "auto",
        dtype: Any = "auto",
        quantization: str | None = None,
        batch_size: int = 16,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        revision: str | None = None,
        cache_dir: str | None = None,
        merge_adapter: bool = True,
        show_progress: bool = False,
        prefix_sharing: bool = True,
        max_padding: float | str | None = "auto",
        keep_freed_memory: bool = True,
    ) -> None:
        super().__init__()
        torch = _torch()
        require("transformers", "hf")
        if quantization not in (None, "4bit", "8bit", "int8"):
            raise InvalidInputError(f"quantization must be None, '4bit', '8bit' or 'int8', got {quantization!r}")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = str(model)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        if quantization == "int8" and not self.device.startswith("cpu"):
            raise UnsupportedError(
                f"quantization='int8' is the CPU int8 path; on {self.device!r} use '8bit' (bitsandbytes) or '4bit'"
            )
        self.quantization = quantization
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.prefix_sharing = prefix_sharing
        if max_padding == "auto":
            max_padding = 0.1 if self.device.startswith("cpu") else None
        if max_padding is not None and (isinstance(max_padding, str) or max_padding < 0):
            raise InvalidInputError(f"max_padding must be 'auto', None or a fraction >= 0, got {max_padding!r}")
        self.max_padding: float | None = max_padding
        self._load_kwargs: dict[str, Any] = {
            "local_files_only": local_files_only,
            "trust_remote_code": trust_remote_code,
            "revision": revision,
            "cache_dir": cache_dir,
        }
        self.adapter_path: str | None = None
        self.model, self.tokenizer = self._load(model, merge_adapter=merge_adapter)
        self.model.eval()
        if self.device.startswith("cpu"):
            from . import cpu_alloc

            # what loading freed (checkpoint buffers, dtype conversions, int8's fp32 weights) goes back
            # to the kernel; from here on, freed batch tensors are kept for the next batch
            cpu_alloc.release_free_memory()
            if keep_freed_memory:
                cpu_alloc.keep_freed_memory()
        self._label_cache: dict[str, list[int]] = {}
        params = inspect.signature(self.model.forward).parameters
        self._has_logits_to_keep = "logits_to_keep" in params
        self._bos_id: int | None = leading_bos_id(self.tokenizer)
        logger.info("loaded %s on %s (%s, quantization=%s)", self.model_name, self.device, self.dtype, quantization)

    # ------------------------------------------------------------------ loading
    def _source(self, model: str | Path) -> tuple[str, str | None]:
        """Return ``(model folder or hub id, adapter folder or None)``."""
        path = Path(model).expanduser()
        text = str(model)
        if text.lower().endswith(".gguf"):
            if not path.is_file():
                raise ModelLoadError(f"GGUF file not found: {path}")
            from ..gguf import cached_conversion_dir, convert_gguf

            return str(convert_gguf(path, cached_conversion_dir(path), dtype=str(self.dtype).replace("torch.", ""))), None
        if path.is_dir():
            if (path / "adapter_config.json").is_file():
                base = _read_json(path / "adapter_config.json").get("base_model_name_or_path")
                if not base:
                    raise ModelLoadError(f"{path}/adapter_config.json has no 'base_model_name_or_path'")
                base_src, nested = self._source(base)
                if nested:
                    raise ModelLoadError(f"the base model of adapter {path} is itself an adapter ({base})")
                return base_src, str(path)
            if not (path / "config.json").is_file():
                raise ModelLoadError(f"{path} is a folder but holds no config.json (not a transformers model)")
            return str(path), None
        if path.exists():
            raise ModelLoadError(f"{path} is neither a model folder, a LoRA adapter folder nor a .gguf file")
        if text.startswith((".", "/", "~")) or not _HUB_ID.match(text):
            raise ModelLoadError(f"model path not found: {text!r}")
        return text, None

    def _load(self, model: str | Path, *, merge_adapter: bool):
        torch = _torch()
        transformers = require("transformers", "hf")
        source, adapter = self._source(model)
        kwargs = {k: v for k, v in self._load_kwargs.items() if v is not None}
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                adapter if adapter and has_tokenizer(Path(adapter)) else source, **kwargs
            )
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the tokenizer of {model!r}: {exc}") from exc
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        # int8: load half-precision weights (half the memory of fp32 while loading), quantize the linear
        # layers, then bring the rest (embeddings, norms, head) to the compute dtype
        load_dtype = torch.bfloat16 if self.quantization == "int8" else self.dtype
        model_kwargs: dict[str, Any] = dict(kwargs, dtype=load_dtype, use_safetensors=True)
        bnb = self.quantization in ("4bit", "8bit")
        if bnb:
            require("bitsandbytes", "quantization")
            if self.quantization == "4bit":
                qconfig = transformers.BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=self.dtype,
                )
            else:
                qconfig = transformers.BitsAndBytesConfig(load_in_8bit=True)
            model_kwargs["quantization_config"] = qconfig
            model_kwargs["device_map"] = {"": self.device}
        try:
            lm = transformers.AutoModelForCausalLM.from_pretrained(source, **model_kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load model {model!r} from {source!r}: {exc}") from exc
        except (RuntimeError, ImportError, NotImplementedError) as exc:
            if bnb:
                raise UnsupportedError(
                    f"{self.quantization} quantization with bitsandbytes failed on device {self.device!r}: {exc}"
                ) from exc
            raise ModelLoadError(f"cannot load model {model!r}: {exc}") from exc
        if not bnb:
            lm.to(self.device)
        if adapter:
            peft = require("peft", "lora")
            try:
                lm = peft.PeftModel.from_pretrained(lm, adapter, is_trainable=False)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                raise ModelLoadError(f"cannot apply LoRA adapter {adapter!r}: {exc}") from exc
            if (merge_adapter or self.quantization == "int8") and not bnb:
                lm = lm.merge_and_unload()  # int8: quantize the merged weights
            self.adapter_path = adapter
        if self.quantization == "int8":
            from .int8 import int8_supported, quantize_int8

            if not int8_supported():
                raise UnsupportedError("quantization='int8' needs torch._int_mm on the CPU, which this PyTorch lacks")
            quantize_int8(lm)
            lm.to(self.dtype)
        return lm, tokenizer

    # ------------------------------------------------------------- text/tokens
    def render(self, prompt: Prompt) -> str:
        return render_prompt(self.tokenizer, prompt)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of rendered prompts (BOS added where the tokenizer expects it)."""
        return encode_rendered(self.tokenizer, texts, self._bos_id)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return count_tokens(self.tokenizer, texts)

    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        return split_token_windows(self.tokenizer, text, max_tokens, overlap)

    def label_token_ids(self, label: str) -> list[int]:
        """Single-token ids of a label's variants (cached). Raises LabelTokenError if none."""
        if label not in self._label_cache:
            self._label_cache[label] = single_token_ids(self.tokenizer, label, self.model_name)
        return self._label_cache[label]

    # ------------------------------------------------------------------ compute
    def batch_tensors(self, rows: Sequence[Sequence[int]]):
        """``(input_ids, attention_mask, position_ids)`` of left-padded token rows, on the model's device.

        Left padding puts every row's last token at the last position (where
        scores are read and generation continues); positions count real tokens only.
        """
        torch = _torch()
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return input_ids.to(self.device), mask.to(self.device), positions.to(self.device)

    def _logprobs_last(self, rows: Sequence[Sequence[int]], keep: int):
        """Log-softmax over the vocabulary for the last ``keep`` positions: (B, keep, V) float32.

        With ``prefix_sharing``, the longest token prefix common to all rows
        (short of the last ``keep`` tokens of each) is run once and its cache
        repeated over the batch; only the remaining tokens of each row are run.
        Counts as one forward pass.
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
                          past_key_values=cache, use_cache=True)
        if self._has_logits_to_keep:
            kwargs["logits_to_keep"] = keep
        with torch.inference_mode():
            logits = self.model(**kwargs).logits[:, -keep:, :]
            self.forward_passes += 1
            return torch.log_softmax(logits.float(), dim=-1)

    #: a shorter shared prefix is not worth a separate pass
    MIN_SHARED_PREFIX = 16

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
            cache = self.model(**kwargs).past_key_values
        cache.batch_repeat_interleave(batch)
        return cache

    def _bounded_padding(self, idx: list[int], rows: Sequence[Sequence[int]]) -> list[int]:
        """The longest head of ``idx`` (ascending lengths) whose padding stays within ``max_padding``."""
        if self.max_padding is None or len(idx) < 2:
            return idx
        total = 0
        for n, i in enumerate(idx):
            total += len(rows[i])
            if n and len(rows[i]) * (n + 1) - total > self.max_padding * total:
                return idx[:n]
        return idx

    def _run_batches(
        self, rows: list[list[int]], fn: Callable[[list[list[int]]], list[Any]], desc: str, bound_padding: bool = True
    ) -> list[Any]:
        """Apply ``fn`` to length-sorted batches of ``rows``; results in input order.

        ``bound_padding=False`` keeps full batches whatever ``max_padding`` says:
        generation's decode steps cost about the same for 1 or 16 rows, so fewer,
        fuller batches win there.

        On an out-of-memory error the batch size is halved and the batch retried.
        """
        torch = _torch()
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        results: list[Any] = [None] * len(rows)
        batch = self.batch_size
        pos = 0
        bar = None
        if self.show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(rows), desc=desc, unit="seq", leave=False)
        try:
            while pos < len(order):
                idx = order[pos : pos + batch]
                if bound_padding:
                    idx = self._bounded_padding(idx, rows)
                try:
                    out = fn([rows[i] for i in idx])
                except (torch.OutOfMemoryError, RuntimeError) as exc:  # CUDA and CPU allocators
                    if "out of memory" not in str(exc).lower() and not isinstance(exc, torch.OutOfMemoryError):
                        raise
                    if batch == 1:
                        raise BackendError(f"out of memory with a batch of one sequence of {len(rows[idx[0]])} tokens") from exc
                    batch = max(1, batch // 2)
                    logger.warning("out of memory; retrying with batch_size=%d", batch)
                    if self.device.startswith("cuda"):
                        torch.cuda.empty_cache()
                    continue
                for i, value in zip(idx, out):
                    results[i] = value
                pos += len(idx)
                if bar is not None:
                    bar.update(len(idx))
        finally:
            if bar is not None:
                bar.close()
        return results

    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> np.ndarray:
        torch = _torch()
        if not prompts:
            return np.zeros((0, len(labels)), dtype=np.float64)
        ids_per_label = [self.label_token_ids(label) for label in labels]
        rows = self.encode([self.render(p) for p in prompts])

        def fn(batch: list[list[int]]) -> list[np.ndarray]:
            logp = self._logprobs_last(batch, 1)[:, -1, :]
            cols = [torch.logsumexp(logp[:, ids], dim=-1) for ids in ids_per_label]
            return list(torch.stack(cols, dim=-1).double().cpu().numpy())

        return np.stack(self._run_batches(rows, fn, "scoring"))

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[np.ndarray]:
        torch = _torch()
        if len(prompts) != len(continuations):
            raise InvalidInputError("prompts and continuations differ in length")
        if not prompts:
            return []
        heads = self.encode([self.render(p) for p in prompts])
        tails = self.tokenizer(list(continuations), add_special_tokens=False).input_ids
        if any(len(t) == 0 for t in tails):
            raise InvalidInputError("a continuation encodes to zero tokens")
        rows = [h + t for h, t in zip(heads, tails)]
        tail_len = {id(r): len(t) for r, t in zip(rows, tails)}

        def fn(batch: list[list[int]]) -> list[np.ndarray]:
            lengths = [tail_len[id(r)] for r in batch]
            keep = max(lengths) + 1
            logp = self._logprobs_last(batch, keep)
            out = []
            for b, (row, n) in enumerate(zip(batch, lengths)):
                targets = torch.tensor(row[-n:], device=logp.device)
                preds = logp[b, keep - n - 1 : keep - 1, :]
                out.append(preds.gather(-1, targets[:, None])[:, 0].double().cpu().numpy())
            return out

        return self._run_batches(rows, fn, "scoring")

    def generate(self, prompts: Sequence[Prompt], *, max_new_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        torch = _torch()
        if not prompts:
            return []
        rows = self.encode([self.render(p) for p in prompts])
        eos = self.tokenizer.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        gen_cfg = getattr(self.model, "generation_config", None)
        if gen_cfg is not None and gen_cfg.eos_token_id is not None:
            extra = gen_cfg.eos_token_id
            eos_ids |= set(extra if isinstance(extra, list) else [extra])

        def fn(batch: list[list[int]]) -> list[Generation]:
            input_ids, mask, _ = self.batch_tensors(batch)
            kwargs: dict[str, Any] = {
                "input_ids": input_ids,
                "attention_mask": mask,
                "max_new_tokens": max_new_tokens,
                "do_sample": False,
                "pad_token_id": self.tokenizer.pad_token_id,
            }
            if stop:
                # our own criterion: transformers' stop_strings needs a tokenizer whose
                # tokens round-trip through convert_tokens_to_string, not every one does
                kwargs["stopping_criteria"] = _stopping_criteria(self.tokenizer, input_ids.shape[1], stop)
            with torch.inference_mode():
                out = self.model.generate(**kwargs)
            self.forward_passes += 1
            new = out[:, input_ids.shape[1] :].cpu().tolist()
            gens = []
            for seq in new:
                tokens: list[int] = []
                ended = False
                for t in seq:
                    if t in eos_ids:
                        ended = True
                        break
                    tokens.append(t)
                text, used, stopped_at = _cut_at_stop(self.tokenizer, tokens, stop)
                hit = stopped_at is None and not ended and used >= max_new_tokens
                gens.append(Generation(text=text, num_tokens=used, hit_budget=hit, stopped_at=stopped_at))
            return gens

        return self._run_batches(rows, fn, "generating", bound_padding=False)

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "model": self.model_name,
            "adapter": self.adapter_path,
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "quantization": self.quantization,
            "batch_size": self.batch_size,
        }


def _first_stop(text: str, stop: Sequence[str]) -> tuple[int, str] | None:
    """Position and value of the earliest stop string in ``text``."""
    found = [(text.find(s), s) for s in stop if s and text.find(s) >= 0]
    return min(found) if found else None


def _cut_at_stop(tokenizer: Any, tokens: list[int], stop: Sequence[str]) -> tuple[str, int, str | None]:
    """Text before the first stop string, the tokens it took to write it (stop included), and the stop.

    Rows of a batch that stopped early are padded by ``generate``; counting stops
    at the token that completed the stop string, so padding is never counted.
    """
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    first = _first_stop(text, stop)
    if first is None:
        return text, len(tokens), None
    at, value = first
    used = len(tokens)
    for n in range(1, len(tokens) + 1):
        if _first_stop(tokenizer.decode(tokens[:n], skip_special_tokens=True), stop) is not None:
            used = n
            break
    return text[:at], used, value


def _stopping_criteria(tokenizer: Any, prompt_length: int, stop: Sequence[str]) -> Any:
    """A ``StoppingCriteriaList`` that ends each row once its new text contains a stop string."""
    import transformers

    torch = _torch()
    window = 32  # new tokens decoded per check: enough for any stop string we use

    class StopOnStrings(transformers.StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = []
            for row in input_ids[:, prompt_length:].tolist():
                tail = tokenizer.decode(row[-window:], skip_special_tokens=True)
                done.append(_first_stop(tail, stop) is not None)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return transformers.StoppingCriteriaList([StopOnStrings()])
