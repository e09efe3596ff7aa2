"""OpenVINO on the CPU for cross-encoders: the transformers model converted once to OpenVINO IR, cached.

OpenVINO fuses the encoder's small operations and runs bf16 on CPUs with AMX
or AVX512-BF16 by itself, where eager PyTorch pays per operation
(``bench/cross_encoder_speed.py`` measures it against ``backend="hf"``;
docs/performance.md has the figures). The model is
loaded with the same transformers loader as ``backend="hf"`` (safetensors,
LoRA adapters merged, untrained heads refused), converted with
``openvino.convert_model`` (no optimum needed), saved to
``$INTERANK_CACHE/openvino/`` and reused from there. Pairs are encoded by the
same :class:`~interank_sdk.backends.pairs.PairEncoder` as the other runtimes.

A model whose fused attention traces to NaN on padded rows (ModernBERT's sliding window) is
converted with transformers' eager attention instead; every conversion is checked against torch
in float32 before it is cached.

An architecture that does not convert (or a decoder LLM classifier, which this runtime does not
run) raises :class:`~interank_sdk.errors.ConversionError`; ``Reranker(..., backend="openvino")``
then falls back to ``backend="hf"`` with a warning naming the reason, never an error.

Install with ``pip install "interank-sdk[hf,openvino]"``.

Example:
    >>> from interank_sdk import Reranker
    >>> reranker = Reranker("cross-encoder/ms-marco-MiniLM-L6-v2", backend="openvino")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from ..errors import ConversionError, InvalidInputError, UnsupportedError, check_int
from ..sources import ModelSource, resolve_source
from .hf.device import dtype_name
from .base import PairClassifier, PairLogits
from .batching import length_sorted
from .pairs import PairBudget, PairEncoder
from .tokens import count_tokens, split_windows

logger = logging.getLogger(__name__)

#: OpenVINO's inference precision for each ``dtype`` (``"auto"``: OpenVINO's own choice, bf16 where native)
_PRECISION = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


#: bumped when the conversion (or its check) changes, so IRs converted before are not reused
IR_FORMAT = 2


def _ir_key(source: ModelSource, versions: str) -> str:
    """A cache key that changes when the weights, the adapter or the converters change."""
    parts = [source.path, source.adapter or "", versions]
    for folder in (source.path, source.adapter):
        if folder and Path(folder).is_dir():
            for f in sorted(Path(folder).glob("*.safetensors")):
                st = f.stat()
                parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class OVClassifierBackend(PairBudget, PairClassifier):
    """An encoder cross-encoder (``*ForSequenceClassification``) on OpenVINO's CPU plugin.

    Args:
        model: hub id, folder, LoRA adapter folder or a resolved source.
        device: ``"auto"`` or ``"cpu"``.
        dtype: ``"auto"`` (OpenVINO's choice: bf16 on CPUs with native bf16, else fp32),
            ``"float32"`` or ``"bfloat16"`` (the inference precision).
        batch_size: pairs per inference request.
        max_length: tokens of one encoded pair (default and upper bound: the model's limit).
        max_padding: a length-sorted batch stops growing before its padding exceeds this
            fraction of its tokens (``None``: full batches).
        threads: OpenVINO's inference threads (default: its own, every core).
        cache_folder: where converted models are kept (default ``$INTERANK_CACHE/openvino``).
        local_files_only, revision, cache_dir, trust_remote_code: how to reach a hub model.
        show_progress: progress bar over batches.
        mix_queries: let one inference batch hold several queries' pairs (default; ``False``: each
            query batched alone, as :class:`~interank_sdk.backends.hf.runtime.HFRuntime` explains).
    """

    name = "openvino"
    kind = "sequence-classification"

    def __init__(
        self,
        model: str | Path | ModelSource,
        *,
        device: str = "auto",
        dtype: Any = "auto",
        quantization: str | None = None,
        batch_size: int = 64,
        max_length: int | None = None,
        max_padding: float | None = 0.3,
        threads: int | None = None,
        cache_folder: str | Path | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        cache_dir: str | None = None,
        trust_remote_code: bool = False,
        show_progress: bool = False,
        mix_queries: bool = True,
    ) -> None:
        super().__init__()
        self.mixes_queries = bool(mix_queries)
        ov = require("openvino", "openvino")
        torch = require("torch", "hf")
        if device not in ("auto", "cpu"):
            raise UnsupportedError(f"the openvino backend runs on the CPU; device={device!r} is not available")
        if quantization is not None:
            raise UnsupportedError("the openvino backend has no quantization option: OpenVINO's static int8 (NNCF) "
                                   "measured slower than its float32 on a CPU without VNNI and is not offered; the "
                                   "CPU int8 path is backend='hf' with quantization='int8'")
        check_int("batch_size", batch_size)
        precision = dtype_name(dtype)
        if precision != "auto" and precision not in _PRECISION:
            raise InvalidInputError(f"dtype must be 'auto', 'float32' or 'bfloat16' here, got {dtype!r}")
        source = model if isinstance(model, ModelSource) else resolve_source(
            model, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        self.model_name = source.spec
        self.batch_size = batch_size
        self.max_padding = max_padding
        self.show_progress = show_progress
        from .hf.loading import load_model

        loaded = load_model(source, "sequence-classification", device="cpu", dtype=torch.float32,
                            trust_remote_code=trust_remote_code, tokenizer_padding_side="right")
        config = loaded.model.config
        from ..detect import encoder_model_types

        if config.model_type not in encoder_model_types():
            raise ConversionError(f"the openvino backend runs encoder cross-encoders; {config.model_type!r} is a "
                                  "decoder LLM classifier: use backend='hf' or 'vllm'")
        self.tokenizer = loaded.tokenizer
        self.num_labels = int(config.num_labels)
        self.pairs = PairEncoder.for_model(loaded.model, self.tokenizer, max_length)
        self.max_length = self.pairs.max_length
        import transformers

        from ..gguf import default_cache_dir

        folder = Path(cache_folder) if cache_folder else default_cache_dir() / "openvino"
        key = _ir_key(source, f"ir{IR_FORMAT}:ov{ov.__version__}:tf{transformers.__version__}:{self.pairs.token_types}")
        self.ir_path = folder / f"{Path(source.path).name}-{key}" / "model.xml"
        core = ov.Core()
        if self.ir_path.is_file():
            ov_model = core.read_model(str(self.ir_path))
        else:
            ov_model = self._convert(ov, loaded.model)
        del loaded
        config_ov: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if precision != "auto":
            config_ov["INFERENCE_PRECISION_HINT"] = _PRECISION[precision]
        if threads:
            config_ov["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self.compiled = core.compile_model(ov_model, "CPU", config_ov)
        except RuntimeError as exc:
            raise ConversionError(f"OpenVINO cannot compile {self.model_name!r}: {exc}") from exc
        self.inputs = {port.get_any_name() for port in self.compiled.inputs}
        self.precision = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        logger.info("openvino: %s (%s, inputs %s)", self.model_name, self.precision, sorted(self.inputs))

    def _convert(self, ov: Any, model: Any) -> Any:
        """Convert the torch model, check it against torch, save the IR atomically.

        A model whose traced attention gives non-finite values on padded rows (ModernBERT's sliding
        window leaves a padding position with no key to attend to, which OpenVINO's fused attention
        turns into NaN) is converted again with transformers' eager attention, whose additive mask
        keeps such rows finite; the result is checked the same way.
        """
        # the check runs past a sliding attention window (ModernBERT: 128 tokens) and with padding
        probe = self.pairs.encode([("a query", "word " * 300), ("another query", "a short passage")])
        check = self._arrays(probe.input_ids, probe.token_type_ids)
        ov_model = self._trace(ov, model)  # a model that does not trace at all is not traced twice
        try:
            self._check_conversion(ov, ov_model, model, check)
        except ConversionError as exc:
            current = getattr(model.config, "_attn_implementation", None)
            if current in (None, "eager") or not hasattr(model, "set_attn_implementation"):
                raise
            logger.info("openvino: %s with %s attention: %s; converting with eager attention", self.model_name,
                        current, exc)
            try:
                model.set_attn_implementation("eager")
            except (ValueError, ImportError):
                raise exc from None
            ov_model = self._trace(ov, model)
            self._check_conversion(ov, ov_model, model, check)
        self._save(ov, ov_model)
        return ov_model

    def _trace(self, ov: Any, model: Any) -> Any:
        """``openvino.convert_model`` on two example pairs (they fix the input names and ranks)."""
        torch = require("torch", "hf")
        probe = self.pairs.encode([("a query", "a passage"), ("another query", "a longer passage here")])
        example = self._arrays(probe.input_ids, probe.token_type_ids)
        try:
            # tracing makes transformers and torch warn about what a trace cannot see (shape-dependent
            # branches, deprecated properties the converter reads): nothing the user can act on
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ov.convert_model(model, example_input={k: torch.from_numpy(v) for k, v in example.items()})
        except Exception as exc:  # noqa: BLE001 - the converter raises many types; the cause is kept
            raise ConversionError(f"OpenVINO cannot convert {self.model_name!r}: {exc}") from exc

    def _save(self, ov: Any, ov_model: Any) -> None:
        tmp = self.ir_path.parent.with_name(self.ir_path.parent.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ov.save_model(ov_model, str(tmp / "model.xml"), compress_to_fp16=False)
        shutil.rmtree(self.ir_path.parent, ignore_errors=True)
        tmp.rename(self.ir_path.parent)
        logger.info("openvino: converted %s -> %s", self.model_name, self.ir_path.parent)

    def _check_conversion(self, ov: Any, ov_model: Any, model: Any, example: dict[str, np.ndarray]) -> None:
        """Refuse a conversion whose float32 logits are not finite or not the torch model's (before it is cached)."""
        torch = require("torch", "hf")
        with torch.no_grad():
            reference = model(**{k: torch.from_numpy(v) for k, v in example.items()}).logits.float().numpy()
        compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        got = np.asarray(compiled({k: v for k, v in example.items()
                                   if k in {p.get_any_name() for p in compiled.inputs}})[0], dtype=np.float32)
        if not np.all(np.isfinite(got)) or np.max(np.abs(got - reference)) > 1e-3 * max(1.0, float(np.abs(reference).max())):
            raise ConversionError(f"OpenVINO's conversion of {self.model_name!r} ({model.config.model_type}) gives "
                                  f"logits {got.ravel().tolist()} where transformers gives {reference.ravel().tolist()}")

    def _arrays(self, rows: Sequence[Sequence[int]], types: Sequence[Sequence[int]] | None) -> dict[str, np.ndarray]:
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        out = {"input_ids": ids, "attention_mask": mask}
        if types is not None:
            out["token_type_ids"] = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
            if types is not None:
                out["token_type_ids"][i, : len(row)] = types[i]
        return out

    # ------------------------------------------------------------- text/tokens
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return count_tokens(self.tokenizer, texts)

    def split_windows(self, text: str, max_tokens: int, overlap: int) -> list[str]:
        return split_windows(self.tokenizer, text, max_tokens, overlap)

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> PairLogits:
        if not pairs:
            return PairLogits(np.zeros((0, self.num_labels), dtype=np.float64))
        encoded = self.pairs.encode(pairs)
        rows, types = encoded.input_ids, encoded.token_type_ids
        out = np.empty((len(rows), self.num_labels), dtype=np.float64)
        from tqdm.auto import tqdm

        with tqdm(total=len(rows), desc="scoring", unit="pair", leave=False, disable=not self.show_progress) as bar:
            for idx in length_sorted(rows, self.batch_size, self.max_padding):
                arrays = self._arrays([rows[i] for i in idx], [types[i] for i in idx] if types is not None else None)
                logits = self.compiled({k: v for k, v in arrays.items() if k in self.inputs})[0]
                self.forward_passes += 1
                out[idx] = np.asarray(logits, dtype=np.float64).reshape(len(idx), -1)
                bar.update(len(idx))
        return PairLogits(out, encoded.truncated)

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "kind": self.kind, "model": self.model_name, "precision": self.precision,
                "batch_size": self.batch_size, "max_length": self.max_length, "ir": str(self.ir_path.parent)}


__all__ = ["OVClassifierBackend"]
