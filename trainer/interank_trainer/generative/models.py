"""Loading a student for training, LoRA settings, and writing adapter folders.

The student is loaded through the SDK's own transformers backend
(:class:`interank_sdk.training.HFBackend`): the same loader (safetensors
only, GGUF conversion, 4-bit NF4 via bitsandbytes), the same chat-template
rendering and the same tokenization as ``Reranker`` at inference, so the
training prompts are token for token the prompts the adapter is scored with.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from interank_sdk.card import ModelCard
from interank_sdk.errors import InvalidInputError, ModelLoadError, UnsupportedError
from interank_sdk.prompts import Prompt
from interank_sdk.training import HFBackend, cpu_supports_bf16, leading_bos_id, quiet_peft, resolve_device

from .. import __version__
from .._deps import need

logger = logging.getLogger(__name__)


def resolve_quantization(quantization: str | None, device: str) -> str | None:
    """``"auto"`` -> ``"4bit"`` (QLoRA) on CUDA, ``None`` (plain LoRA) elsewhere."""
    if quantization in (None, "none"):
        return None
    if quantization == "auto":
        return "4bit" if device.startswith("cuda") else None
    if quantization == "4bit":
        if not device.startswith("cuda"):
            logger.warning("4-bit NF4 on %s: bitsandbytes runs it, but slower than bf16/fp32 LoRA there", device)
        return "4bit"
    raise InvalidInputError(f"quantization must be 'auto', '4bit' or None, got {quantization!r}")


def load_student(model: str | Path, *, device: str = "auto", dtype: Any = "auto", quantization: str | None = "auto"):
    """Load a base model for LoRA training through the SDK's transformers backend.

    Returns:
        the :class:`~interank_sdk.training.HFBackend` (its ``model`` is the
        base model, ready for peft; its ``tokenizer``, ``render`` and ``encode``
        are the inference ones).

    Raises:
        InvalidInputError: ``model`` is a LoRA adapter folder (train from its base model).
    """
    if (Path(str(model)).expanduser() / "adapter_config.json").is_file():
        raise InvalidInputError(
            f"{model} is a LoRA adapter folder; distill trains a new adapter on a base model "
            "(to refine an adapter use `interank-train rl --adapter ...`)"
        )
    dev = resolve_device(device)
    quant = resolve_quantization(quantization, dev)
    if quant:
        logger.info("QLoRA: loading %s in 4-bit NF4 (double quantization) on %s", model, dev)
    else:
        logger.info(
            "plain LoRA on %s (QLoRA's 4-bit base needs CUDA%s)", dev,
            "" if dev.startswith("cuda") else "; this machine trains the full-precision base with LoRA adapters",
        )
    if dtype in (None, "auto") and not dev.startswith("cuda") and not quant:
        # on CPU, fp32 master weights under bf16 autocast train 3-4x faster than bf16 weights
        # (measured here: 11 s vs 30-45 s per 4x160-token step of Qwen2.5-0.5B with LoRA)
        dtype = "float32"
        logger.info("training on CPU with fp32 weights%s", " and bf16 autocast" if cpu_supports_bf16() else "")
    backend = HFBackend(model, device=dev, dtype=dtype, quantization=quant, merge_adapter=True)
    if quant:
        peft = need("peft")
        with quiet_peft():
            backend.model = peft.prepare_model_for_kbit_training(backend.model, use_gradient_checkpointing=True)
    return backend


def adapter_base(adapter: str | Path) -> str:
    """The base model recorded in an adapter folder's ``adapter_config.json``."""
    path = Path(adapter).expanduser() / "adapter_config.json"
    if not path.is_file():
        raise ModelLoadError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json)")
    try:
        base = json.loads(path.read_text()).get("base_model_name_or_path")
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not base:
        raise ModelLoadError(f"{path} has no base_model_name_or_path")
    return str(base)


def lora_config(model: Any, *, r: int, alpha: int, dropout: float, target_modules: tuple[str, ...] | list[str],
                layers: list[int] | None = None):
    """A peft ``LoraConfig`` on ``target_modules`` (those the model has; none present is an error).

    ``layers``: indices of the decoder layers to adapt (``None``: all).
    """
    peft = need("peft")
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [m for m in target_modules if m in present]
    missing = sorted(set(target_modules) - set(targets))
    if not targets:
        raise UnsupportedError(
            f"none of the LoRA target modules {list(target_modules)} exist in this model; "
            f"pass target_modules (e.g. from {sorted(n for n in present if 'proj' in n)[:8]})"
        )
    if missing:
        logger.warning("LoRA target modules not in this model (skipped): %s", missing)
    return peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none",
                           task_type="CAUSAL_LM", layers_to_transform=layers)


def trl_prompt_text(backend: Any, prompt: Prompt) -> str:
    """The rendered prompt as text that TRL tokenizes into exactly the SDK's prompt tokens.

    TRL tokenizes a text prompt with ``tokenizer(text)`` (special tokens on);
    the SDK encodes the rendered text without them and adds BOS only where the
    tokenizer would and the text lacks it (the SDK's ``encode_rendered``; :func:`interank_sdk.training.leading_bos_id`
    says whether the tokenizer adds one). Dropping a leading BOS string that the tokenizer adds anyway makes both
    the same sequence.
    """
    text = backend.render(prompt)
    tok = backend.tokenizer
    if tok.bos_token and text.startswith(tok.bos_token) and leading_bos_id(tok) is not None:
        text = text[len(tok.bos_token):]
    return text


def save_adapter(model: Any, tokenizer: Any, out: str | Path, card: ModelCard) -> Path:
    """Write the LoRA adapter, the tokenizer and ``interank.json`` (``card``, through :class:`ModelCard`) into ``out``.

    ``interank.json`` records the strategy and prompt version, so
    ``Reranker(out)`` (strategy ``"auto"``) scores with the prompt the adapter
    was trained on; how it was trained goes under ``training``. The card is
    stamped with this trainer's version unless it names one.
    """
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    replace(card, trainer_version=card.trainer_version or __version__).write(out)
    logger.info("wrote adapter %s (strategy %s, prompt %s)", out, card.strategy, card.prompt_version)
    return out


def training_precision(backend: Any) -> dict[str, bool]:
    """``bf16``/``fp16`` (autocast) flags of a TRL config for the loaded model.

    CUDA: the model's own half dtype. CPU: bf16 autocast where the CPU runs
    bf16 natively (AMX/AVX512-BF16), else full fp32.
    """
    torch = need("torch")
    if str(backend.device).startswith("cuda"):
        return {"bf16": backend.dtype == torch.bfloat16, "fp16": backend.dtype == torch.float16}
    return {"bf16": backend.dtype == torch.bfloat16 or cpu_supports_bf16(), "fp16": False}


def autocast_context(backend: Any):
    """The autocast context matching :func:`training_precision` (for hand-written training loops)."""
    torch = need("torch")
    flags = training_precision(backend)
    half = torch.bfloat16 if flags["bf16"] else torch.float16 if flags["fp16"] else None
    device_type = "cuda" if str(backend.device).startswith("cuda") else "cpu"
    return torch.autocast(device_type=device_type, dtype=half or torch.float32, enabled=half is not None)


__all__ = [
    "resolve_quantization", "load_student", "adapter_base", "lora_config", "trl_prompt_text", "save_adapter",
    "training_precision", "autocast_context",
]
