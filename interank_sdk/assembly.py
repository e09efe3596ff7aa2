"""Put a reranker together: read what the model is, choose the strategy, start the runtime with its own options.

:func:`assemble` is what ``Reranker(model, ...)`` does before it can score:

1. resolve where the model comes from (:mod:`interank_sdk.sources`) and read
   what it is from its files (:mod:`interank_sdk.detect`), for runtimes that
   load the model here (transformers, vLLM);
2. choose the strategy: an explicit ``strategy=`` wins, then the model card
   (``interank.json``), then what the files say, then the runtime's default;
3. start the backend that runs the strategy's model kind on the chosen runtime,
   forwarding only the options that backend takes: an option the caller set
   that the backend does not take is an error naming it, never silently dropped.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import LOCAL_BACKENDS, Backend, accepted_options, backend_class, backend_name
from .card import ModelCard, card_strategy
from .detect import ModelProfile, inspect_model
from .errors import ConversionError, InvalidInputError, UnsupportedError
from .sources import resolve_source
from .strategies import STRATEGIES, Strategy, get_strategy

logger = logging.getLogger(__name__)

#: the strategy for a model kind when nothing else says
DEFAULT_STRATEGY = {"causal-lm": "qlm", "sequence-classification": "classifier", "embedding": "embedding",
                    "remote-rerank": "remote"}
#: the strategy for runtimes that never see the model's files
BACKEND_DEFAULT_STRATEGY = {"openai": "qlm", "rerank-api": "remote"}


@dataclass
class Assembly:
    """A ready backend, the strategy that reads it, and what was read from the model."""

    backend: Backend
    strategy: Strategy
    profile: ModelProfile | None
    card: ModelCard | None


def _strategy_params(name: str) -> set[str]:
    params = inspect.signature(STRATEGIES[name].__init__).parameters
    return {n for n in params if n not in ("self", "prompt_version")}


def build_strategy(
    name: str,
    *,
    prompt_version: str | None,
    profile: ModelProfile | None,
    card: ModelCard | None,
    user_options: dict[str, Any],
    max_new_tokens: int,
) -> Strategy:
    """The strategy ``name`` with its options: the card's, the model's (activation...), then the caller's."""
    if name not in STRATEGIES:
        raise InvalidInputError(f"unknown strategy {name!r}; choose one of {sorted(STRATEGIES)}")
    takes = _strategy_params(name)
    options: dict[str, Any] = {}
    if card is not None and card.strategy == name:
        options.update(card.strategy_options)
        prompt_version = prompt_version or card.prompt_version
    if profile is not None:
        derived = {"activation": profile.activation, "num_labels": profile.num_labels, "decoder": profile.is_decoder}
        options.update({k: v for k, v in derived.items() if v is not None and k in takes and k not in options})
    if "max_new_tokens" in takes:
        options["max_new_tokens"] = max_new_tokens
    unknown = set(user_options) - takes
    if unknown:
        raise InvalidInputError(f"strategy {name!r} does not take the options {sorted(unknown)} (it takes {sorted(takes)})")
    options.update(user_options)
    return get_strategy(name, prompt_version, **{k: v for k, v in options.items() if k in takes})


def assemble(
    model: Any,
    *,
    backend: str,
    strategy: str,
    prompt_version: str | None,
    strategy_options: dict[str, Any],
    max_new_tokens: int,
    max_length: int | None,
    options: dict[str, Any],
    explicit: set[str],
) -> Assembly:
    """Build the backend and strategy for ``model`` (see the module docstring).

    Args:
        model: hub id, folder, ``.gguf``, adapter folder, a served model name, or a ready backend.
        backend: runtime name (``"auto"``, ``"hf"``, ``"vllm"``, ``"openai"``, ``"rerank-api"``).
        strategy: ``"auto"`` or a strategy name.
        options: runtime options (device, dtype, ... and the caller's extra keyword arguments).
        explicit: names of ``options`` the caller set (the others are defaults, dropped
            where the backend does not take them).
    """
    if isinstance(model, Backend):
        name = strategy if strategy != "auto" else DEFAULT_STRATEGY[model.kind]
        chosen = build_strategy(name, prompt_version=prompt_version, profile=None, card=None,
                                user_options=strategy_options, max_new_tokens=max_new_tokens)
        if not isinstance(model, chosen.runtime):
            raise UnsupportedError(f"strategy {name!r} reads {chosen.model_kind} models; the backend runs {model.kind}")
        return Assembly(backend=model, strategy=chosen, profile=None, card=None)

    runtime = backend_name(backend)
    profile: ModelProfile | None = None
    source: Any = model
    if runtime in LOCAL_BACKENDS:
        source = resolve_source(model, revision=options.get("revision"), cache_dir=options.get("cache_dir"),
                                local_files_only=bool(options.get("local_files_only")))
        profile = inspect_model(source)
        card = profile.card
    else:
        card = ModelCard.read(model) if Path(str(model)).expanduser().is_dir() else None

    if strategy != "auto":
        name = strategy
    elif profile is not None:
        if profile.problem:
            raise UnsupportedError(profile.problem)
        name = profile.strategy
    else:  # a server model: its card (a local folder served elsewhere), else the backend's default
        name = card_strategy(card, BACKEND_DEFAULT_STRATEGY.get(runtime, "qlm"))
    chosen = build_strategy(name, prompt_version=prompt_version, profile=profile, card=card,
                            user_options=strategy_options, max_new_tokens=max_new_tokens)
    cls = backend_class(runtime, chosen.model_kind)
    takes = accepted_options(cls)
    forwarded: dict[str, Any] = {}
    for key, value in options.items():
        if key in takes or (key in explicit and getattr(cls, "passthrough_options", False)):
            forwarded[key] = value
        elif key in explicit:
            raise InvalidInputError(
                f"the {runtime!r} backend running a {chosen.model_kind} model does not take {key}={value!r}"
            )
    if profile is not None:  # what the model's files say about its inputs, unless the caller said otherwise
        derived = {"pooling": profile.pooling, "normalize": profile.normalize if profile.pooling else None,
                   "max_length": max_length if max_length is not None else profile.max_length}
        forwarded.update({k: v for k, v in derived.items() if v is not None and k in takes and k not in forwarded})
    try:
        instance = cls(source, **forwarded)
    except ConversionError as exc:
        if runtime != "openvino":
            raise
        instance = _fallback_to_hf(source, chosen.model_kind, forwarded, exc)
    logger.info("reranker: %s on %s, strategy %s", getattr(instance, "model_name", model), instance.name, chosen.name)
    return Assembly(backend=instance, strategy=chosen, profile=profile, card=card)


def _fallback_to_hf(source: Any, kind: str, forwarded: dict[str, Any], exc: ConversionError) -> Backend:
    """The transformers runtime for a model OpenVINO cannot run, with the options it takes (a warning says why)."""
    cls = backend_class("hf", kind)
    takes = accepted_options(cls)
    dropped = sorted(k for k in forwarded if k not in takes)
    logger.warning("openvino: %s; falling back to backend='hf'%s", exc,
                   f" (without the openvino-only options {dropped})" if dropped else "")
    return cls(source, **{k: v for k, v in forwarded.items() if k in takes})


__all__ = ["Assembly", "BACKEND_DEFAULT_STRATEGY", "DEFAULT_STRATEGY", "assemble", "build_strategy"]
