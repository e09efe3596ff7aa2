"""The training-data format and the exact text a student is trained to write.

A dataset folder (written by :func:`interank_trainer.synthesize` or
:func:`interank_trainer.prepare_judgments`) holds:

* ``data.jsonl``: one judged (query, passage) pair per line (see :data:`ROW_FIELDS`),
  readable with ``datasets.load_dataset("json", data_files=".../data.jsonl")``.
  Each row carries conversational ``prompt``/``completion`` fields (TRL's
  prompt-completion format, built from the SDK's own prompt templates) plus the
  raw ``query``, ``passage``, teacher ``label`` (0/1/2), ``label_probs`` and
  ``explanation``;
* ``manifest.json``: how the data was made, and the counts (rows, dropped
  judgments by reason, label histogram);
* ``progress.jsonl`` (synthesize only): the QA pairs already done, for resuming.

The completions are exactly what the scoring strategies of
:class:`interank_sdk.Reranker` read:

* ``reasoning``: the explanation, a newline, then ``Relevance Label:`` followed by
  the label and `` ##``. The strategy generates until it writes ``Relevance
  Label:`` and reads the label distribution at the very next token, so the
  student's target puts a *single label token* right after the marker (``" 2"``
  where the vocabulary has it as one token, else ``"2"``; see
  :func:`interank_trainer.generative.targets.label_forms`);
* ``graded`` / ``yesno``: the single label token right after the prompt
  (``"0"``/``"1"``/``"2"``, or ``"yes"``/``"no"``).

Every stage that writes a folder (synthesize, teach, judgment import) writes it
the same resumable way: rows appended and made durable (:func:`append_lines`),
the finished units recorded in ``progress.jsonl`` (:func:`read_progress`), the
rows of an unfinished unit dropped on resume (:func:`prune_rows`), the manifest
replaced atomically (:func:`write_json`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from interank_sdk.errors import InvalidInputError
from interank_sdk.prompts import get_template
from interank_sdk.training import REASONING_END, REASONING_MARKER

logger = logging.getLogger(__name__)

#: version tag written into every manifest
FORMAT = "interank-trainer/v1"
DATA_FILE = "data.jsonl"
MANIFEST_FILE = "manifest.json"
PROGRESS_FILE = "progress.jsonl"
#: the InteRank labels: 0 irrelevant, 1 partially relevant, 2 relevant
LABELS = (0, 1, 2)
#: fields every row must have (``explanation`` may be ``None`` for judgment data)
REQUIRED_FIELDS = ("query", "passage", "label")
ROW_FIELDS = (
    "id", "pair_id", "source", "query", "passage", "candidate", "label", "label_probs",
    "explanation", "teacher_wrote_marker", "strategy", "prompt_version", "prompt", "completion",
)

# ----------------------------------------------------------------- targets
def reasoning_completion(explanation: str, label: int, label_text: str | None = None, assistant_prefix: str = "") -> str:
    """The reasoning target: ``"<explanation>\nRelevance Label: <label> ##"``.

    It is the text the model writes after the rendered prompt, which ends with
    the template's assistant prefix (reasoning ``v2`` starts the answer with
    ``"Explanation:"``, so the target then starts with a space).

    Args:
        explanation: the explanation (stripped; must not be empty).
        label: 0, 1 or 2.
        label_text: how the label is written right after the marker (default
            ``" <label>"``); :func:`~interank_trainer.generative.targets.label_forms` picks the form
            that is a single token for a given tokenizer.
        assistant_prefix: the prompt template's assistant prefix.

    Example:
        >>> reasoning_completion("It explains kinases.", 2)
        'It explains kinases.\\nRelevance Label: 2 ##'
        >>> reasoning_completion("It explains kinases.", 2, "2", assistant_prefix="Explanation:")
        ' It explains kinases.\\nRelevance Label:2 ##'
    """
    explanation = explanation.strip()
    if not explanation:
        raise InvalidInputError("the explanation of a reasoning target is empty")
    check_label(label)
    text = f" {label}" if label_text is None else label_text
    sep = " " if assistant_prefix and not assistant_prefix[-1].isspace() else ""
    return f"{sep}{explanation}\n{REASONING_MARKER}{text} {REASONING_END}"


def label_completion(strategy: str, label: int, yes_threshold: int = 2, forms: Mapping[str, str] | None = None) -> str:
    """The single-token target of the ``graded`` or ``yesno`` strategy for an InteRank label.

    ``yesno`` answers ``"yes"`` when ``label >= yes_threshold`` (default: only
    label 2 is a yes).

    Example:
        >>> label_completion("graded", 1), label_completion("yesno", 2), label_completion("yesno", 1)
        ('1', 'yes', 'no')
    """
    check_label(label)
    if strategy == "graded":
        key = str(label)
    elif strategy == "yesno":
        key = "yes" if label >= yes_threshold else "no"
    else:
        raise InvalidInputError(f"label_completion is for 'graded' or 'yesno', not {strategy!r}")
    return forms.get(key, key) if forms else key


def check_label(label: Any) -> int:
    """Validate an InteRank label (0, 1 or 2) and return it as an int."""
    if isinstance(label, bool) or not isinstance(label, int) or label not in LABELS:
        raise InvalidInputError(f"label must be 0, 1 or 2, got {label!r}")
    return label


# ------------------------------------------------------------------- rows
def conversation(strategy: str, query: str, passage: str, prompt_version: str | None = None) -> tuple[list[dict[str, str]], str, str]:
    """The SDK prompt template of ``strategy`` for one pair.

    Returns:
        ``(messages, assistant_prefix, version)``: the chat messages, the text
        the assistant turn starts with (the model continues after it) and the
        template version.
    """
    template = get_template(strategy, prompt_version)
    prompt = template.render(query, passage)
    return [dict(m) for m in prompt.messages], prompt.assistant_prefix, template.version


def make_row(
    *,
    row_id: str,
    query: str,
    passage: str,
    label: int,
    source: str,
    pair_id: str | None = None,
    candidate: str | None = None,
    label_probs: Sequence[float] | None = None,
    explanation: str | None = None,
    teacher_wrote_marker: bool | None = None,
    prompt_version: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build one dataset row with its conversational ``prompt``/``completion``.

    The row's own strategy is ``reasoning`` when it has an explanation, else
    ``graded``; :func:`interank_trainer.distill` re-renders every row for the
    student's strategy and tokenizer anyway.
    """
    check_label(label)
    if not query.strip() or not passage.strip():
        raise InvalidInputError(f"row {row_id}: empty query or passage")
    strategy = "reasoning" if explanation and explanation.strip() else "graded"
    messages, prefix, version = conversation(strategy, query, passage, prompt_version if strategy == "reasoning" else None)
    target = (
        reasoning_completion(explanation, label, assistant_prefix=prefix) if strategy == "reasoning"
        else label_completion("graded", label)
    )
    row: dict[str, Any] = {
        "id": row_id,
        "pair_id": pair_id,
        "source": source,
        "query": query,
        "passage": passage,
        "candidate": candidate,
        "label": label,
        "label_probs": None if label_probs is None else [float(p) for p in label_probs],
        "explanation": explanation.strip() if explanation else None,
        "teacher_wrote_marker": teacher_wrote_marker,
        "strategy": strategy,
        "prompt_version": version,
        "prompt": messages,
        # the whole assistant turn: the template's assistant prefix, then the target
        "completion": [{"role": "assistant", "content": prefix + target}],
    }
    if extra:
        row.update(extra)
    return row


def read_rows(data: str | Path | Iterable[str | Path], *, max_rows: int | None = None) -> list[dict[str, Any]]:
    """Read and validate the rows of one or more dataset folders (or ``.jsonl`` files).

    Raises:
        InvalidInputError: a missing folder or file, invalid JSON, a row without
            ``query``/``passage``/``label``, an empty query or passage, or a
            label that is not 0, 1 or 2. The message names the file and line.
    """
    paths = [data] if isinstance(data, (str, Path)) else list(data)
    if not paths:
        raise InvalidInputError("no training data given")
    rows: list[dict[str, Any]] = []
    for item in paths:
        path = Path(item).expanduser()
        file = path / DATA_FILE if path.is_dir() else path
        if not file.is_file():
            raise InvalidInputError(
                f"training data not found: {file} (expected a folder written by `interank-train synthesize` or "
                f"`interank-train prepare`, or a {DATA_FILE} file)"
            )
        for lineno, row in iter_jsonl(file):
            if not isinstance(row, dict):
                raise InvalidInputError(f"{file}:{lineno}: expected a JSON object")
            missing = [k for k in REQUIRED_FIELDS if k not in row]
            if missing:
                raise InvalidInputError(f"{file}:{lineno}: missing field(s) {', '.join(map(repr, missing))}")
            for key in ("query", "passage"):
                if not isinstance(row[key], str) or not row[key].strip():
                    raise InvalidInputError(f"{file}:{lineno}: {key!r} must be a non-empty string")
            try:
                check_label(row["label"])
            except InvalidInputError as exc:
                raise InvalidInputError(f"{file}:{lineno}: {exc}") from None
            explanation = row.get("explanation")
            if explanation is not None and not isinstance(explanation, str):
                raise InvalidInputError(f"{file}:{lineno}: 'explanation' must be a string or null")
            rows.append(row)
            if max_rows is not None and len(rows) >= max_rows:
                return rows
    if not rows:
        raise InvalidInputError(f"no rows in {', '.join(map(str, paths))}")
    return rows


def iter_jsonl(file: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` of each non-blank line of a JSONL file.

    Raises:
        InvalidInputError: a line is not valid JSON (file and line named).
    """
    with file.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{file}:{lineno}: invalid JSON ({exc.msg})") from exc


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` of a dataset folder (``{}`` when there is none)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (recorded in manifests, so a resume can tell the input changed)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def append_lines(handle: Any, lines: Sequence[str]) -> None:
    """Append ``lines`` to an open file and make them durable (flush and fsync) before returning."""
    if lines:
        handle.write("".join(lines))
    handle.flush()
    os.fsync(handle.fileno())


def read_progress(path: Path, key: str) -> dict[str, dict[str, Any]]:
    """The entries of a ``progress.jsonl`` by ``entry[key]`` (a torn last line is ignored, with a warning)."""
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s: ignoring a torn last line (interrupted write)", path)
                continue
            done[str(entry[key])] = entry
    return done


def prune_rows(data_path: Path, done: set[str], key: str) -> int:
    """Remove the rows whose ``row[key]`` is not in ``done`` (work interrupted half-way); return how many."""
    if not data_path.is_file():
        return 0
    kept: list[str] = []
    removed = 0
    with data_path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                removed += 1
                continue
            if str(row.get(key)) in done:
                kept.append(line if line.endswith("\n") else line + "\n")
            else:
                removed += 1
    if removed:
        tmp = data_path.with_name(data_path.name + ".tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        tmp.replace(data_path)
    return removed


def label_histogram(labels: Iterable[int]) -> dict[str, int]:
    """``{"0": n0, "1": n1, "2": n2}``."""
    hist = {str(k): 0 for k in LABELS}
    for label in labels:
        hist[str(label)] += 1
    return hist


__all__ = [
    "FORMAT", "DATA_FILE", "MANIFEST_FILE", "PROGRESS_FILE", "LABELS", "reasoning_completion", "label_completion",
    "check_label", "conversation", "make_row", "read_rows", "read_manifest", "write_json", "label_histogram",
    "file_digest", "append_lines", "read_progress", "prune_rows", "iter_jsonl",
]
