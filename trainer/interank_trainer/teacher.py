"""The teacher of both recipes: one description of the ``Reranker`` that judges (synthesize) or scores (teach, adapt).

A config names its teacher as a model (hub id, folder, ``.gguf``, adapter, a
served model name) with ``teacher_*`` settings, or hands over a ready
:class:`interank_sdk.Reranker`. :class:`TeacherSpec` holds either;
:meth:`TeacherSpec.build` gives the ``Reranker`` (a ready one as it is) and
:meth:`TeacherSpec.kwargs` the keyword arguments that rebuild it in another
process (what a Ray worker receives; :meth:`TeacherSpec.from_kwargs` there). The co-teacher of a student is built the
same way.

Example:
    >>> from interank_trainer.teacher import TeacherSpec
    >>> spec = TeacherSpec("Qwen/Qwen2.5-0.5B-Instruct", strategy="qlm", batch_size=16)
    >>> spec.kwargs()["strategy"], spec.name
    ('qlm', 'Qwen/Qwen2.5-0.5B-Instruct')
    >>> teacher = spec.build()  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError

#: the ``TeacherSpec`` fields a config sets through its ``teacher_<name>`` fields
_NAMED = ("strategy", "backend", "device", "dtype", "quantization", "batch_size", "max_length")
#: ``teacher_<name>`` config fields that are other ``Reranker`` arguments
_OPTIONS = ("prompt_version", "max_new_tokens")


@dataclass
class TeacherSpec:
    """How a teacher :class:`~interank_sdk.Reranker` is built.

    Attributes:
        model: a model name or path, or a ready ``Reranker`` (used as it is).
        strategy, backend, device, dtype, quantization, batch_size, max_length: the
            ``Reranker`` arguments of the same names (``None``: its default).
        options: more ``Reranker`` keyword arguments (``prompt_version``,
            ``max_new_tokens``, ``show_progress``, ``threads``, backend options such
            as ``base_url``); they win over the named ones.
    """

    model: Any
    strategy: str = "auto"
    backend: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    quantization: str | None = None
    batch_size: int | None = None
    max_length: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Any, **settings: Any) -> TeacherSpec:
        """The teacher of a config with a ``teacher`` field and ``teacher_*`` settings (``teacher_strategy``,
        ``teacher_backend``... and ``teacher_kwargs``, which become options); ``settings`` (spec fields, or
        more options) override them."""
        values: dict[str, Any] = {"model": config.teacher}
        for name in _NAMED:
            if hasattr(config, f"teacher_{name}"):
                values[name] = getattr(config, f"teacher_{name}")
        options = {name: getattr(config, f"teacher_{name}") for name in _OPTIONS if hasattr(config, f"teacher_{name}")}
        options.update(getattr(config, "teacher_kwargs", None) or {})
        named = {f.name for f in fields(cls)} - {"options"}
        for key, value in settings.items():
            if key in named:
                values[key] = value
            else:
                options[key] = value
        return cls(**values, options=options)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> TeacherSpec:
        """The spec back from :meth:`kwargs` (in the process that rebuilds the teacher)."""
        options = dict(kwargs)
        model = options.pop("model")
        named = {name: options.pop(name) for name in _NAMED if name in options}
        return cls(model, **named, options=options)

    @property
    def name(self) -> str:
        """The teacher's model name (a ready ``Reranker``'s ``model_name``)."""
        return str(getattr(self.model, "model_name", self.model))

    def kwargs(self) -> dict[str, Any]:
        """``{"model": name, **Reranker keyword arguments}``: what rebuilds the teacher in another process.

        Raises:
            InvalidInputError: ``model`` is a ready ``Reranker`` (it cannot be rebuilt from a name).
        """
        if not isinstance(self.model, (str, Path)):
            raise InvalidInputError("the teacher must be a model name or path to be rebuilt in another process")
        named = {name: getattr(self, name) for name in _NAMED}
        return {"model": str(self.model), **named, **self.options}

    def build(self) -> Any:
        """The teacher ``Reranker``: ``model`` itself when it is one, else built from :meth:`kwargs`.

        Raises:
            InvalidInputError: ``model`` is neither a name/path nor a ``Reranker``.
        """
        from interank_sdk import Reranker

        if isinstance(self.model, Reranker):
            return self.model
        if not isinstance(self.model, (str, Path)):
            raise InvalidInputError(f"teacher must be a model name/path or a Reranker, got {type(self.model).__name__}")
        kwargs = self.kwargs()
        return Reranker(kwargs.pop("model"), **kwargs)


__all__ = ["TeacherSpec"]
