"""Where a model comes from: hub ids, local folders, ``.gguf`` files and LoRA adapters, resolved in one place.

Every backend and the trainer resolve the caller's ``model`` argument here,
so a hub id, a folder, a ``.gguf`` file or a LoRA adapter folder means the
same thing everywhere:

* :func:`resolve_source` turns the argument into a :class:`ModelSource`
  (what kind of source it is, the base model, the adapter);
* :class:`ModelFiles` reads the small files that say what a model is
  (``config.json``, sentence-transformers' ``modules.json``, the README's
  front matter, ``interank.json``) from a folder or, for a hub id, through
  ``huggingface_hub`` (respecting ``local_files_only``, ``revision`` and
  ``cache_dir``);
* :func:`resolve_device` and :func:`resolve_dtype` read ``"auto"`` and dtype
  names the same way for every runtime.

Nothing here loads weights.

Example:
    >>> from interank_sdk.sources import resolve_source
    >>> src = resolve_source("Qwen/Qwen2.5-0.5B-Instruct")
    >>> src.kind, src.path, src.adapter
    ('hub', 'Qwen/Qwen2.5-0.5B-Instruct', None)
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import InvalidInputError, ModelLoadError

logger = logging.getLogger(__name__)

SourceKind = Literal["hub", "folder", "gguf", "adapter"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")

#: dtype names accepted everywhere (``dtype=``), mapped to torch attribute names
@dataclass(frozen=True)
class HubOptions:
    """How to reach a hub model: ``revision``, ``cache_dir``, ``local_files_only``, ``token``."""

    revision: str | None = None
    cache_dir: str | None = None
    local_files_only: bool = False
    token: str | bool | None = None

    def kwargs(self) -> dict[str, Any]:
        """The non-default options, as ``from_pretrained`` keyword arguments."""
        out: dict[str, Any] = {}
        if self.revision is not None:
            out["revision"] = self.revision
        if self.cache_dir is not None:
            out["cache_dir"] = self.cache_dir
        if self.local_files_only:
            out["local_files_only"] = True
        if self.token is not None:
            out["token"] = self.token
        return out


class ModelFiles:
    """Read a model's small metadata files from a local folder or a hub repository.

    Missing files read as ``None``; a file that exists but cannot be parsed is a
    :class:`~interank_sdk.errors.ModelLoadError` (a model we cannot read properly
    is never guessed at).

    Args:
        location: a local folder or a hub id.
        hub: hub options (ignored for a local folder).
    """

    def __init__(self, location: str | Path, hub: HubOptions | None = None) -> None:
        self.location = str(location)
        self.hub = hub or HubOptions()
        path = Path(self.location).expanduser()
        self.folder: Path | None = path if path.is_dir() else None
        self._cache: dict[str, str | None] = {}

    @property
    def is_local(self) -> bool:
        return self.folder is not None

    def _fetch(self, name: str) -> str | None:
        if self.folder is not None:
            file = self.folder / name
            return str(file) if file.is_file() else None
        try:
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
        except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
            return None
        try:
            return hf_hub_download(
                self.location, name, revision=self.hub.revision, cache_dir=self.hub.cache_dir,
                local_files_only=self.hub.local_files_only, token=self.hub.token,
            )
        except (EntryNotFoundError, LocalEntryNotFoundError):
            return None
        except Exception as exc:  # noqa: BLE001 - network, auth, missing repo: the caller decides what is required
            logger.debug("cannot fetch %s from %s: %s", name, self.location, exc)
            return None

    def path(self, name: str) -> str | None:
        """Local path of ``name`` (downloaded for a hub id), or ``None`` when the model has no such file."""
        if name not in self._cache:
            self._cache[name] = self._fetch(name)
        return self._cache[name]

    def exists(self, name: str) -> bool:
        return self.path(name) is not None

    def read_text(self, name: str) -> str | None:
        path = self.path(name)
        if path is None:
            return None
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"cannot read {name} of {self.location}: {exc}") from exc

    def read_json(self, name: str) -> Any:
        text = self.read_text(name)
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{name} of {self.location} is not valid JSON: {exc}") from exc

    def front_matter(self) -> dict[str, str]:
        """Top-level ``key: value`` pairs of the README's YAML front matter (lists joined by commas).

        Enough for ``pipeline_tag``, ``library_name``, ``base_model`` and ``tags``;
        no YAML parser is needed for that.
        """
        text = self.read_text("README.md")
        if not text or not text.startswith("---"):
            return {}
        end = text.find("\n---", 3)
        if end < 0:
            return {}
        out: dict[str, str] = {}
        key: str | None = None
        for line in text[3:end].splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith((" ", "\t", "-")) and key is not None:
                item = line.strip().lstrip("-").strip()
                if item:
                    out[key] = f"{out[key]},{item}" if out[key] else item
                continue
            if ":" in line:
                key, _, value = line.partition(":")
                key = key.strip()
                out[key] = value.strip().strip("'\"")
        return out


@dataclass(frozen=True)
class ModelSource:
    """A resolved ``model`` argument.

    Attributes:
        spec: what the caller passed.
        kind: ``"hub"`` (a hub id), ``"folder"`` (a local model folder),
            ``"gguf"`` (a ``.gguf`` file), ``"adapter"`` (a LoRA adapter folder).
        path: the model to load weights from: the folder or hub id, the
            ``.gguf`` file, or an adapter's base model.
        adapter: the adapter folder (``kind == "adapter"``), else ``None``.
        adapter_config: the adapter's ``adapter_config.json``.
        hub: hub options used to reach ``path``.
    """

    spec: str
    kind: SourceKind
    path: str
    adapter: str | None = None
    adapter_config: dict[str, Any] = field(default_factory=dict)
    hub: HubOptions = field(default_factory=HubOptions)

    def files(self) -> ModelFiles | None:
        """The base model's metadata files (``None`` for a ``.gguf`` file, which carries its own)."""
        if self.kind == "gguf":
            return None
        return ModelFiles(self.path, self.hub)

    def adapter_files(self) -> ModelFiles | None:
        return ModelFiles(self.adapter) if self.adapter else None

    @property
    def card_folder(self) -> Path | None:
        """The local folder whose ``interank.json`` describes this model (the adapter's, else the model's)."""
        if self.adapter:
            return Path(self.adapter)
        if self.kind == "folder":
            return Path(self.path)
        return None

    @property
    def adapter_task(self) -> str | None:
        """peft's ``task_type`` of the adapter (``"CAUSAL_LM"``, ``"SEQ_CLS"``...), if recorded."""
        task = self.adapter_config.get("task_type")
        return str(task) if task else None

    @property
    def adapter_rank(self) -> int | None:
        rank = self.adapter_config.get("r")
        return int(rank) if isinstance(rank, int) else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return data


def resolve_source(
    model: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> ModelSource:
    """Resolve a ``model`` argument: hub id, model folder, ``.gguf`` file or LoRA adapter folder.

    Raises:
        ModelLoadError: a path that does not exist, a folder that is neither a
            model nor an adapter, an adapter without a base model, an adapter
            whose base is itself an adapter.
        InvalidInputError: ``model`` is not a string or path.
    """
    if not isinstance(model, (str, Path)):
        raise InvalidInputError(f"model must be a hub id or a path, got {type(model).__name__}")
    hub = HubOptions(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
    text = str(model)
    if not text.strip():
        raise InvalidInputError("model is an empty string")
    path = Path(text).expanduser()
    if text.lower().endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"GGUF file not found: {path}")
        return ModelSource(spec=text, kind="gguf", path=str(path), hub=hub)
    if path.is_dir():
        adapter_cfg = path / "adapter_config.json"
        if adapter_cfg.is_file():
            config = _read_json(adapter_cfg)
            base = config.get("base_model_name_or_path")
            if not base:
                raise ModelLoadError(f"{adapter_cfg} has no 'base_model_name_or_path'")
            base_src = resolve_source(base, revision=revision, cache_dir=cache_dir,
                                      local_files_only=local_files_only, token=token)
            if base_src.kind == "adapter":
                raise ModelLoadError(f"the base model of adapter {path} is itself an adapter ({base})")
            if base_src.kind == "gguf":
                raise ModelLoadError(f"the base model of adapter {path} is a .gguf file; use its converted folder")
            return ModelSource(spec=text, kind="adapter", path=base_src.path, adapter=str(path),
                               adapter_config=config, hub=hub)
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} is a folder but holds no config.json (not a transformers model)")
        return ModelSource(spec=text, kind="folder", path=str(path), hub=hub)
    if path.exists():
        raise ModelLoadError(f"{path} is neither a model folder, a LoRA adapter folder nor a .gguf file")
    if text.startswith((".", "/", "~")) or not _HUB_ID.match(text):
        raise ModelLoadError(f"model path not found: {text!r}")
    return ModelSource(spec=text, kind="hub", path=text, hub=hub)


def local_snapshot(source: ModelSource) -> str:
    """A local folder holding ``source.path`` (the folder itself, or the hub snapshot already downloaded).

    For engines that take a path and would otherwise need process-wide
    settings (``HF_HUB_OFFLINE``) to stay offline.

    Raises:
        ModelLoadError: a hub model that is not in the local cache.
    """
    if source.kind != "hub":
        return source.path
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover
        raise ModelLoadError(f"huggingface_hub is needed to find {source.path} locally") from exc
    try:
        return snapshot_download(source.path, revision=source.hub.revision, cache_dir=source.hub.cache_dir,
                                 local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"{source.path} is not in the local hub cache and local_files_only=True: {exc}"
        ) from exc


__all__ = [
    "HubOptions", "ModelFiles", "ModelSource", "SourceKind", "local_snapshot", "resolve_source",
]
