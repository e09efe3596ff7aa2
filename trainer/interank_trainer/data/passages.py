"""Passages from a user's files, cleaned and cut the way the teacher and the pools see them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from interank_sdk.errors import InvalidInputError
from interank_sdk.prompts import format_passage

_MARKUP = re.compile(r"\$\\(?:begin|end)group\$")


def load_passages(path: str | Path) -> list[str]:
    """A user corpus: JSONL with ``text`` (optional ``title``), or a ``.txt`` file with one passage per line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"corpus file not found: {path}")
    passages: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if path.suffix != ".jsonl":
                passages.append(line.strip())
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
                raise InvalidInputError(f"{path}:{lineno}: expected an object with a non-empty 'text'")
            passages.append(format_passage(row["text"].strip(), row.get("title") or None))
    if not passages:
        raise InvalidInputError(f"{path}: no passages")
    return passages


def clean_text(text: str, max_words: int) -> str:
    """Drop StackExchange ``$\\begingroup$`` markup and cut to ``max_words`` words (formatting kept)."""
    text = _MARKUP.sub("", text).strip()
    words = list(re.finditer(r"\S+", text))
    if len(words) > max_words:
        text = text[: words[max_words - 1].end()].rstrip() + " ..."
    return text


__all__ = ["load_passages", "clean_text"]
