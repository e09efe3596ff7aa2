"""What kind of reranker a model is, read from its own files.

:func:`inspect_model` reads ``config.json`` (``architectures``,
``model_type``, ``num_labels``, the activation sentence-transformers records),
sentence-transformers' ``modules.json`` / ``config_sentence_transformers.json``
/ pooling config, the README's front matter (``pipeline_tag``, ``tags``), a
LoRA adapter's ``task_type`` and the ``interank.json`` card, and returns a
:class:`ModelProfile`: the family, the strategy that reads it, and the
evidence for that conclusion (logged, and shown in errors).

Families:

================  ======================================================  =================
family            detected from                                           strategy
================  ======================================================  =================
cross-encoder     ``*ForSequenceClassification`` of an encoder            ``classifier``
llm-classifier    ``*ForSequenceClassification`` of a decoder LM, or a    ``classifier``
                  LoRA adapter with ``task_type: SEQ_CLS``
bi-encoder        sentence-transformers ``modules.json`` with Pooling     ``embedding``
qwen3-reranker    ``model_type: qwen3`` causal LM marked as a ranker      ``qwen3-reranker``
bge-reranker-     ``model_type: gemma`` causal LM marked as a ranker      ``bge-reranker-gemma``
gemma
rankzephyr        a causal LM whose README says it runs with rank_llm     ``rankzephyr``
                  (RankZephyr, RankVicuna: listwise permutations)
first-mistral     the same, with FIRST's single-token decoding            ``first-mistral``
causal-lm         any other ``*ForCausalLM`` (or a ``.gguf`` file)        ``qlm``
================  ======================================================  =================

"Marked as a ranker": the README's front matter says ``pipeline_tag:
text-ranking`` (or tags it ``reranker``/``text-ranking``), or the repository
or folder name says ``reranker``. An explicit ``strategy=`` always wins, and
``interank.json`` wins over detection.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .card import ModelCard, card_strategy
from .errors import ModelLoadError
from .sources import ModelFiles, ModelSource

logger = logging.getLogger(__name__)

#: suffixes of transformers architectures that generate text
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
#: activations sentence-transformers may record, by the last component of their dotted path
_ACTIVATIONS = {"Sigmoid": "sigmoid", "Identity": "identity", "Tanh": "tanh", "Softmax": "softmax"}


@dataclass(frozen=True)
class ModelProfile:
    """What a model is, as read from its files.

    Attributes:
        family: ``"cross-encoder"``, ``"llm-classifier"``, ``"bi-encoder"``,
            ``"causal-lm"``, or a preset name (``"qwen3-reranker"``...).
        strategy: the strategy that reads it (``"classifier"``, ``"embedding"``,
            ``"qlm"``, a preset...).
        architecture: ``config.json``'s first architecture (``None`` for .gguf).
        model_type: ``config.json``'s ``model_type``.
        num_labels: classifier outputs (classifiers only).
        activation: the activation the model declares for its classifier
            output (``"sigmoid"``, ``"identity"``...), ``None`` when it declares none.
        is_decoder: a decoder LM (Llama, Qwen...) rather than an encoder (BERT...).
        max_length: the input length the model's own config sets
            (sentence-transformers' ``max_seq_length``), if any.
        pooling: bi-encoders: ``"mean"``, ``"cls"``, ``"max"`` or ``"lasttoken"``.
        normalize: bi-encoders: embeddings are L2-normalised by the model.
        card: the ``interank.json`` card, if any.
        evidence: what was read and concluded, in order.
        problem: why no strategy could be chosen (then ``strategy`` is ``""``):
            the error raised unless the caller names a strategy.
    """

    family: str
    strategy: str
    architecture: str | None = None
    model_type: str | None = None
    num_labels: int | None = None
    activation: str | None = None
    is_decoder: bool = False
    max_length: int | None = None
    pooling: str | None = None
    normalize: bool = False
    card: ModelCard | None = None
    evidence: tuple[str, ...] = field(default_factory=tuple)
    problem: str | None = None


def encoder_model_types() -> set[str]:
    """``model_type`` values of encoder (masked-LM) families, from transformers' own registry."""
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

        return set(MODEL_FOR_MASKED_LM_MAPPING_NAMES)
    except ImportError:  # pragma: no cover - transformers is part of the hf extra
        return {"bert", "roberta", "xlm-roberta", "electra", "deberta", "deberta-v2", "modernbert", "distilbert"}


def _num_labels(config: dict[str, Any]) -> int:
    """A classifier's outputs: ``id2label``'s size, ``num_labels``, or transformers' default of 2 (not serialised)."""
    id2label = config.get("id2label")
    if isinstance(id2label, dict) and id2label:
        return len(id2label)
    return int(config.get("num_labels") or 2)


def _activation(config: dict[str, Any], files: ModelFiles | None = None) -> str | None:
    """The activation sentence-transformers recorded: in ``config_sentence_transformers.json`` (v6), in
    ``config.json``'s ``sentence_transformers`` entry (v4-v5), or as ``sbert_ce_default_activation_function`` (older)."""
    path = None
    st_config = files.read_json("config_sentence_transformers.json") if files is not None else None
    if isinstance(st_config, dict):
        path = st_config.get("activation_fn")
    st = config.get("sentence_transformers")
    if not path and isinstance(st, dict):
        path = st.get("activation_fn")
    path = path or config.get("sbert_ce_default_activation_function")
    if not path:
        return None
    name = str(path).rsplit(".", 1)[-1]
    return _ACTIVATIONS.get(name, name.lower())


def _ranker_marks(files: ModelFiles | None, source: ModelSource) -> list[str]:
    """Signs, in the model's files and name, that a causal LM was trained as a reranker."""
    marks: list[str] = []
    if files is not None:
        front = files.front_matter()
        if front.get("pipeline_tag") == "text-ranking":
            marks.append("README pipeline_tag: text-ranking")
        tags = {t.strip().lower() for t in front.get("tags", "").split(",")}
        if tags & {"reranker", "text-ranking", "reranking"}:
            marks.append(f"README tags {sorted(tags & {'reranker', 'text-ranking', 'reranking'})}")
    name = Path(source.path).name.lower() if source.kind != "hub" else source.path.lower()
    if "rerank" in name:
        marks.append(f"name {Path(source.path).name!r}")
    return marks


def _listwise_preset(files: ModelFiles | None) -> tuple[str, str] | None:
    """A listwise preset for a causal LM whose README says it is run with rank_llm (RankZephyr, RankVicuna,
    FirstMistral): ``first-mistral`` when it also says it decodes a single token (FIRST), else ``rankzephyr``;
    with the evidence."""
    text = files.read_text("README.md") if files is not None else None
    if not text or not re.search(r"github\.com/castorini/rank_llm|\brank[-_ ]llm\b", text, re.IGNORECASE):
        return None
    if not re.search(r"listwise|rerank", text, re.IGNORECASE):
        return None
    if re.search(r"single[- ]token decoding|\bFIRST\b", text):
        return "first-mistral", "README: a rank_llm listwise reranker with FIRST's single-token decoding"
    return "rankzephyr", "README: a listwise reranker run with rank_llm"


#: causal-LM presets: (preset strategy, model_type it applies to)
CAUSAL_PRESETS: tuple[tuple[str, str], ...] = (("qwen3-reranker", "qwen3"), ("bge-reranker-gemma", "gemma"))


#: sentence-transformers' ``pooling_mode`` names -> the pooling the embedding runtime computes
POOLING_MODES: dict[str, str] = {"cls": "cls", "mean": "mean", "max": "max", "lasttoken": "lasttoken",
                                 "mean_sqrt_len_tokens": "mean_sqrt_len"}


def _sentence_transformers(files: ModelFiles, evidence: list[str]) -> dict[str, Any] | None:
    """sentence-transformers' description of the model (``modules.json`` and friends), if it has one."""
    modules = files.read_json("modules.json")
    if not isinstance(modules, list):
        return None
    types = [str(m.get("type", "")) for m in modules if isinstance(m, dict)]
    st_config = files.read_json("config_sentence_transformers.json") or {}
    info: dict[str, Any] = {"types": types, "model_type": st_config.get("model_type")}
    bert_config = files.read_json("sentence_bert_config.json") or {}
    if isinstance(bert_config.get("max_seq_length"), int):
        info["max_length"] = bert_config["max_seq_length"]
    pooling = next((m for m in modules if isinstance(m, dict) and str(m.get("type", "")).endswith("Pooling")), None)
    if pooling is not None:
        cfg = files.read_json(f"{pooling.get('path', '1_Pooling')}/config.json") or {}
        # sentence-transformers >= 6 writes one "pooling_mode" ("mean", "cls"...); earlier versions one flag per mode
        mode = POOLING_MODES.get(cfg["pooling_mode"]) if isinstance(cfg.get("pooling_mode"), str) else next(
            (name for key, name in (("pooling_mode_cls_token", "cls"), ("pooling_mode_mean_tokens", "mean"),
                                    ("pooling_mode_max_tokens", "max"), ("pooling_mode_lasttoken", "lasttoken"),
                                    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"))
             if cfg.get(key)), None)
        if mode is None:
            raise ModelLoadError(f"{files.location}: the Pooling module's config names no pooling mode: {cfg}")
        info["pooling"] = mode
    info["normalize"] = any(t.endswith("Normalize") for t in types)
    evidence.append(f"sentence-transformers modules {[t.rsplit('.', 1)[-1] for t in types]}"
                    + (f" ({info['model_type']})" if info["model_type"] else ""))
    return info


def inspect_model(source: ModelSource) -> ModelProfile:
    """Read a model's files and say what it is (see the module docstring).

    Raises:
        ModelLoadError: ``config.json`` is missing or unreadable.

    A model with no head the SDK can read (a bare encoder without a classifier
    or pooling, an unknown architecture) gets a profile with ``strategy=""``
    and a ``problem`` naming what was found and what to pass.
    """
    evidence: list[str] = []
    card = ModelCard.read(source.card_folder)
    if card is not None and card.strategy:
        evidence.append(f"interank.json: strategy {card.strategy!r}")
    if source.kind == "gguf":
        evidence.append("a .gguf file: a causal LM")
        return ModelProfile(family="causal-lm", strategy=card_strategy(card, "qlm"), card=card,
                            evidence=tuple(evidence))
    files = source.files()
    assert files is not None
    config = files.read_json("config.json")
    if not isinstance(config, dict):
        raise ModelLoadError(f"{source.path}: no readable config.json (is it a transformers model?)")
    archs = config.get("architectures") or []
    arch = str(archs[0]) if archs else None
    model_type = config.get("model_type")
    is_decoder = model_type not in encoder_model_types()
    evidence.append(f"config.json: architectures {archs or 'none'}, model_type {model_type!r}")
    common: dict[str, Any] = {"architecture": arch, "model_type": model_type, "is_decoder": is_decoder, "card": card}

    def done(family: str, strategy: str, **more: Any) -> ModelProfile:
        strategy = card_strategy(card, strategy)
        evidence.append(f"-> {family}, strategy {strategy!r}")
        profile = ModelProfile(family=family, strategy=strategy, evidence=tuple(evidence), **common, **more)
        logger.info("%s: %s", source.spec, "; ".join(profile.evidence))
        return profile

    if source.adapter:
        task = source.adapter_task
        evidence.append(f"adapter_config.json: task_type {task!r}")
        if task == "SEQ_CLS":
            return done("llm-classifier" if is_decoder else "cross-encoder", "classifier",
                        num_labels=_num_labels(config),
                        activation=_activation(config, files))
    st = _sentence_transformers(files, evidence)
    is_classifier = bool(arch and arch.endswith("ForSequenceClassification"))
    if st is not None and st.get("pooling") and st.get("model_type") != "CrossEncoder" and not is_classifier:
        return done("bi-encoder", "embedding", pooling=st["pooling"], normalize=bool(st["normalize"]),
                    max_length=st.get("max_length"))
    if is_classifier:
        num_labels = _num_labels(config)
        activation = _activation(config, files)
        evidence.append(f"num_labels {num_labels}" + (f", activation {activation}" if activation else ""))
        return done("llm-classifier" if is_decoder else "cross-encoder", "classifier", num_labels=num_labels,
                    activation=activation, max_length=(st or {}).get("max_length"))
    if arch and arch.endswith(_CAUSAL_SUFFIXES):
        marks = _ranker_marks(files, source)
        for preset, preset_type in CAUSAL_PRESETS:
            if model_type == preset_type and marks:
                evidence.append(f"marked as a ranker: {', '.join(marks)}")
                return done(preset, preset)
        listwise = _listwise_preset(files)
        if listwise is not None:
            evidence.append(listwise[1])
            return done(listwise[0], listwise[0])
        return done("causal-lm", "qlm")
    if card is not None and card.strategy:
        return done("causal-lm" if is_decoder else "encoder", card.strategy)
    what = arch or model_type or "an unknown model"
    if not is_decoder:
        problem = (
            f"{source.spec!r} is {what}, an encoder without a head the SDK can read (no *ForSequenceClassification "
            "with num_labels, no sentence-transformers pooling). Pass strategy='embedding' to use it as a bi-encoder "
            "(mean pooling), or train a classification head with `interank-train student`"
        )
    else:
        problem = (
            f"{source.spec!r} is {what}: not a causal LM, a sequence classifier or a sentence-transformers model. "
            "Pass strategy= explicitly ('qlm', 'yesno', 'classifier', 'embedding'...) if you know how it should be read"
        )
    evidence.append("-> no head the SDK can read")
    return ModelProfile(family="unknown", strategy="", evidence=tuple(evidence), problem=problem, **common)



__all__ = ["CAUSAL_PRESETS", "ModelProfile", "encoder_model_types", "inspect_model"]
