"""Load a transformers model for one task: causal LM, sequence classifier or plain encoder.

The task decides the model class (``AutoModelForCausalLM``,
``AutoModelForSequenceClassification``, ``AutoModel``); everything else is the
same for every task and lives here once: safetensors only, ``.gguf`` files
converted once to a cached folder, bitsandbytes 4-bit/8-bit, the CPU int8
path, LoRA adapters (peft), dtype and device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..._compat import quiet_peft
from ..._deps import require
from ...errors import InvalidInputError, ModelLoadError, UnsupportedError
from ...sources import ModelSource
from ..tokens import has_tokenizer

logger = logging.getLogger(__name__)

Task = Literal["causal-lm", "sequence-classification", "embedding"]
TASKS: tuple[str, ...] = ("causal-lm", "sequence-classification", "embedding")
QUANTIZATIONS = (None, "4bit", "8bit", "int8")

#: module names (last path component) kept in full precision by the int8 path, per task: the output heads
INT8_SKIP: dict[str, tuple[str, ...]] = {
    "causal-lm": ("lm_head",),
    "sequence-classification": ("score", "classifier", "out_proj"),
    "embedding": (),
}


@dataclass
class Loaded:
    """A loaded model: the module, its tokenizer, and what was applied."""

    model: Any
    tokenizer: Any
    folder: str  # the folder or hub id the weights came from (a .gguf file's converted folder)
    adapter: str | None
    int8_method: str | None = None  # quantization="int8": "int_mm" or "dynamic" (interank_sdk.backends.int8)


def _auto_class(transformers: Any, task: str) -> Any:
    if task == "causal-lm":
        return transformers.AutoModelForCausalLM
    if task == "sequence-classification":
        return transformers.AutoModelForSequenceClassification
    if task == "embedding":
        return transformers.AutoModel
    raise InvalidInputError(f"unknown task {task!r}; one of {TASKS}")


def check_quantization(quantization: str | None, device: str) -> None:
    """Refuse a quantization this device cannot run (typed errors, before anything is loaded)."""
    if quantization not in QUANTIZATIONS:
        raise InvalidInputError(f"quantization must be None, '4bit', '8bit' or 'int8', got {quantization!r}")
    if quantization == "int8" and not device.startswith("cpu"):
        raise UnsupportedError(
            f"quantization='int8' is the CPU int8 path; on {device!r} use '8bit' (bitsandbytes) or '4bit'"
        )


def load_model(
    source: ModelSource,
    task: Task,
    *,
    device: str,
    dtype: Any,
    quantization: str | None = None,
    merge_adapter: bool = True,
    trust_remote_code: bool = False,
    tokenizer_padding_side: str = "left",
) -> Loaded:
    """Load ``source`` for ``task`` on ``device`` in ``dtype``.

    Args:
        source: the resolved model (:func:`interank_sdk.sources.resolve_source`).
        task: ``"causal-lm"``, ``"sequence-classification"`` or ``"embedding"``.
        device: a resolved device (``"cpu"``, ``"cuda:0"``...).
        dtype: a torch dtype (the compute dtype).
        quantization: ``None``, ``"4bit"``/``"8bit"`` (bitsandbytes) or ``"int8"`` (CPU).
        merge_adapter: merge a LoRA adapter into the weights (not for bitsandbytes models).
        trust_remote_code: allow model code from the hub (off unless asked).
        tokenizer_padding_side: the side the runtime pads on.

    Raises:
        ModelLoadError: the weights or tokenizer cannot be loaded.
        UnsupportedError: the quantization cannot run here.
    """
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    check_quantization(quantization, device)
    folder = source.path
    if source.kind == "gguf":
        if task != "causal-lm":
            raise UnsupportedError(f"a .gguf file holds a causal LM; it cannot be loaded for {task!r}")
        from ...gguf import cached_conversion_dir, convert_gguf

        gguf = Path(source.path)
        folder = str(convert_gguf(gguf, cached_conversion_dir(gguf), dtype=str(dtype).replace("torch.", "")))
    hub = source.hub.kwargs()
    if trust_remote_code:
        hub["trust_remote_code"] = True
    tok_from = source.adapter if source.adapter and has_tokenizer(Path(source.adapter)) else folder
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(tok_from, **hub)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the tokenizer of {source.spec!r}: {exc}") from exc
    tokenizer.padding_side = tokenizer_padding_side

    # int8: load half-precision weights (half the memory of fp32 while loading), quantize the
    # linear layers, then bring the rest (embeddings, norms, heads) to the compute dtype
    # (the dynamic int8 path loads float32: its layers quantize float32 weights and compute in float32)
    int8_method = None
    if quantization == "int8":
        from ..int8 import choose_int8_method

        int8_method = choose_int8_method(task)
    load_dtype = {"int_mm": torch.bfloat16, "dynamic": torch.float32}.get(int8_method or "", dtype)
    kwargs: dict[str, Any] = dict(hub, dtype=load_dtype, use_safetensors=True)
    bnb = quantization in ("4bit", "8bit")
    if bnb:
        require("bitsandbytes", "quantization")
        if quantization == "4bit":
            qconfig = transformers.BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype,
            )
        else:
            qconfig = transformers.BitsAndBytesConfig(load_in_8bit=True)
        kwargs["quantization_config"] = qconfig
        kwargs["device_map"] = {"": device}
    auto = _auto_class(transformers, task)
    try:
        model, missing = _quiet_from_pretrained(auto, folder, kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load {source.spec!r} as {task} from {folder!r}: {exc}") from exc
    except (RuntimeError, ImportError, NotImplementedError) as exc:
        if bnb:
            raise UnsupportedError(f"{quantization} quantization with bitsandbytes failed on {device!r}: {exc}") from exc
        raise ModelLoadError(f"cannot load {source.spec!r}: {exc}") from exc
    _check_missing(source, task, missing)
    if not bnb:
        model.to(device)
    if source.adapter:
        peft = require("peft", "lora")
        try:
            with quiet_peft():
                model = peft.PeftModel.from_pretrained(model, source.adapter, is_trainable=False)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot apply LoRA adapter {source.adapter!r}: {exc}") from exc
        if (merge_adapter or quantization == "int8") and not bnb:
            model = model.merge_and_unload()  # int8: quantize the merged weights
    if int8_method == "dynamic":
        from ..int8 import quantize_dynamic_int8

        logger.info("quantization='int8': this CPU has no int8 dot-product instructions; using PyTorch's dynamic "
                    "int8 layers (x86/fbgemm), which are faster than float32 here (float32 compute)")
        if dtype != torch.float32:
            logger.info("quantization='int8' (dynamic): computing in float32, not %s", dtype)
        quantize_dynamic_int8(model, skip=INT8_SKIP[task])
    elif quantization == "int8":
        from ..int8 import int8_fast, int8_supported, quantize_int8

        if not int8_supported():
            raise UnsupportedError("quantization='int8' needs torch._int_mm on the CPU, which this PyTorch lacks")
        if int8_fast() is False:
            logger.warning("quantization='int8': this CPU has no int8 dot-product instructions (AVX512-VNNI, AVX-VNNI, "
                           "AMX); PyTorch's int8 matmul is then much slower than float32 (35x measured on an "
                           "AVX2-only CPU). Pass quantization=None on this machine.")
        quantize_int8(model, skip=INT8_SKIP[task])
        model.to(dtype)
    model.eval()
    return Loaded(model=model, tokenizer=tokenizer, folder=folder, adapter=source.adapter, int8_method=int8_method)


def _check_missing(source: ModelSource, task: str, missing: list[str]) -> None:
    """Refuse a model whose checkpoint lacks weights that would score: they would be random.

    A bare encoder loaded as a classifier gets a freshly initialised head from
    transformers, and a plausible-looking but meaningless score; that is an
    error here, naming what is missing. An encoder's unused pooler is allowed
    for embeddings (they pool the token states themselves).
    """
    if task == "embedding":
        missing = [k for k in missing if not k.startswith("pooler.")]
    if source.adapter:  # a LoRA adapter may carry the head itself (peft's modules_to_save)
        carried = {str(m) for m in (source.adapter_config.get("modules_to_save") or [])}
        missing = [k for k in missing if k.split(".")[0] not in carried]
    if not missing:
        return
    shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
    if task == "sequence-classification":
        raise ModelLoadError(
            f"{source.spec!r} has no trained classification head ({shown} missing from the checkpoint): "
            "it would score at random. Use a trained cross-encoder, pass strategy='embedding' for a "
            "sentence-transformers bi-encoder, or train a head with `interank-train student`"
        )
    raise ModelLoadError(f"{source.spec!r}: weights missing from the checkpoint for {task}: {shown}")


def _quiet_from_pretrained(auto: Any, folder: str, kwargs: dict[str, Any]) -> Any:
    """``(model, missing weight names)``: ``from_pretrained`` with transformers' load report kept off the console.

    The caller decides what missing weights mean (:func:`_check_missing`).
    """
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model, info = auto.from_pretrained(folder, output_loading_info=True, **kwargs)
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()
    return model, sorted(info.get("missing_keys") or [])


__all__ = ["INT8_SKIP", "Loaded", "QUANTIZATIONS", "TASKS", "Task", "check_quantization", "load_model"]
