"""What every transformers runtime shares: loading, tokens, length-sorted batches, padding bound, OOM retry.

:class:`HFRuntime` is the base of the three transformers backends (causal LM,
sequence classifier, embedding encoder). Subclasses add what is computed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..._deps import require
from ...errors import BackendError, InvalidInputError, check_int
from ...sources import ModelSource, resolve_source
from .device import resolve_device, resolve_dtype
from ..base import Backend
from ..batching import bounded_padding
from ..tokens import count_tokens, split_windows
from .loading import Task, check_quantization, load_model

logger = logging.getLogger(__name__)


def _torch():
    return require("torch", "hf")


class HFRuntime(Backend):
    """A transformers model in this process, loaded for one task.

    Args:
        model: hub id, folder, ``.gguf`` file, LoRA adapter folder, or a
            resolved :class:`~interank_sdk.sources.ModelSource`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        dtype: ``"auto"`` (bf16 where the hardware runs it natively, else fp32) or a dtype name.
        quantization: ``None``; ``"4bit"``/``"8bit"`` (bitsandbytes); ``"int8"``
            (the CPU int8 path, :mod:`interank_sdk.backends.int8`: the implementation that is fast
            on this CPU, logged and kept in ``int8_method``).
        batch_size: sequences per forward pass (halved automatically on out-of-memory).
        local_files_only, revision, cache_dir: how to reach a hub model.
        trust_remote_code: allow model code from the hub (off unless asked).
        merge_adapter: merge a LoRA adapter into the weights (not for bitsandbytes models).
        show_progress: progress bar over batches.
        max_padding: a length-sorted batch stops growing before its padding exceeds
            this fraction of its tokens. ``"auto"``: 0.1 on CPU (where padding is
            computed like real tokens and one sequence already runs at the matmul
            peak), ``None`` (full batches) on GPUs.
        keep_freed_memory: on CPU, keep freed memory in the process for the next
            batch (glibc ``mallopt``; process-wide, so off unless asked:
            :mod:`interank_sdk.backends.cpu_alloc`).
        threads: torch's CPU threads for scoring: ``None`` (torch's setting, untouched),
            an int, or ``"auto"``: every core while the machine is otherwise idle, fewer
            while other processes keep cores busy (:mod:`interank_sdk.backends.cpu_threads`;
            opt-in, it sets torch's thread count).
        mix_queries: let one forward batch hold the pairs of several queries of a ``rerank_batch``
            (default: fewer, fuller batches, and concurrent ``interank serve`` requests share forward
            passes). What differs from ``rerank``: a query's scores then depend on its batch-mates in
            the last bits (other rows change the padded shape, hence the kernels' summation order),
            ~1e-7 in fp32 and up to ~1e-3 in bf16 on CPUs without AMX, which can swap near-tied
            documents. ``False``: each query is batched alone, so ``rerank_batch([q, ...])[0]`` and
            ``rerank(q)`` give the same scores to the last bit.
    """

    name = "hf"
    #: the model class this runtime loads
    task: Task = "causal-lm"
    #: the side sequences are padded on
    padding_side: str = "left"

    def __init__(
        self,
        model: str | Path | ModelSource,
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
        max_padding: float | str | None = "auto",
        keep_freed_memory: bool = False,
        threads: int | str | None = None,
        mix_queries: bool = True,
    ) -> None:
        super().__init__()
        _torch()
        self.mixes_queries = bool(mix_queries)
        require("transformers", "hf")
        check_int("batch_size", batch_size)
        source = model if isinstance(model, ModelSource) else resolve_source(
            model, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        self.source = source
        self.model_name = source.spec
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        check_quantization(quantization, self.device)
        self.quantization = quantization
        self.batch_size = batch_size
        self.show_progress = show_progress
        if max_padding == "auto":
            max_padding = 0.1 if self.device.startswith("cpu") else None
        if max_padding is not None and (isinstance(max_padding, (str, bool)) or max_padding < 0):
            raise InvalidInputError(f"max_padding must be 'auto', None or a fraction >= 0, got {max_padding!r}")
        self.max_padding: float | None = max_padding
        from ..cpu_threads import ThreadPolicy

        self.threads = ThreadPolicy(threads if self.device.startswith("cpu") else None)
        loaded = load_model(
            source, self.task, device=self.device, dtype=self.dtype, quantization=quantization,
            merge_adapter=merge_adapter, trust_remote_code=trust_remote_code,
            tokenizer_padding_side=self.padding_side,
        )
        self.model, self.tokenizer = loaded.model, loaded.tokenizer
        self.adapter_path = loaded.adapter
        self.int8_method = loaded.int8_method
        if self.int8_method == "dynamic":
            self.dtype = _torch().float32  # the dynamic int8 layers take and return float32
        if self.device.startswith("cpu"):
            from .. import cpu_alloc

            cpu_alloc.release_free_memory()  # what loading freed goes back to the kernel (this process only)
            if keep_freed_memory:
                cpu_alloc.keep_freed_memory()
        logger.info("loaded %s for %s on %s (%s, quantization=%s)", self.model_name, self.task, self.device,
                    self.dtype, quantization)

    # ------------------------------------------------------------- text/tokens
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return count_tokens(self.tokenizer, texts)

    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        return split_windows(self.tokenizer, text, max_tokens, overlap)

    # ------------------------------------------------------------------ batches
    def pad_id(self) -> int:
        """The id padding positions carry (masked out; any id works)."""
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        return 0 if pad is None else int(pad[0] if isinstance(pad, list) else pad)

    def batch_tensors(self, rows: Sequence[Sequence[int]], *, pad_id: int | None = None):
        """``(input_ids, attention_mask, position_ids)`` of padded token rows, on the model's device.

        Left padding (causal runtimes) puts every row's last token at the last
        position, where scores are read and generation continues; positions
        count real tokens only, so a padded row computes what it would alone.
        """
        torch = _torch()
        width = max(len(r) for r in rows)
        pad = self.pad_id() if pad_id is None else pad_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            span = slice(width - len(row), width) if self.padding_side == "left" else slice(0, len(row))
            input_ids[i, span] = torch.tensor(list(row), dtype=torch.long)
            mask[i, span] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return input_ids.to(self.device), mask.to(self.device), positions.to(self.device)

    def _run_batches(
        self, rows: Sequence[Sequence[int]], fn: Callable[[list[Sequence[int]]], list[Any]], desc: str,
        bound_padding: bool = True,
    ) -> list[Any]:
        """Apply ``fn`` to length-sorted batches of ``rows``; results in input order.

        ``bound_padding=False`` keeps full batches whatever ``max_padding`` says
        (generation: its decode steps cost about the same for 1 or 16 rows).
        On an out-of-memory error the batch size is halved and the batch retried.
        """
        torch = _torch()
        self.threads.apply()
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
                    idx = bounded_padding(idx, rows, self.max_padding)
                try:
                    out = fn([rows[i] for i in idx])
                except (torch.OutOfMemoryError, RuntimeError) as exc:  # CUDA and CPU allocators
                    if "out of memory" not in str(exc).lower() and not isinstance(exc, torch.OutOfMemoryError):
                        raise
                    if batch == 1:
                        raise BackendError(
                            f"out of memory with a batch of one sequence of {len(rows[idx[0]])} tokens") from exc
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

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "task": self.task,
            "model": self.model_name,
            "adapter": self.adapter_path,
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "quantization": self.quantization,
            "int8_method": self.int8_method,
            "batch_size": self.batch_size,
        }


__all__ = ["HFRuntime"]
