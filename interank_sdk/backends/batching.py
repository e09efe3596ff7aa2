"""Length-sorted batches with bounded padding: how every local runtime groups sequences.

Sequences are sorted by length so a batch pads little; a batch stops growing
before its padding exceeds ``max_padding`` of its tokens (on a CPU, where
padding is computed like real tokens).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def bounded_padding(idx: list[int], rows: Sequence[Sequence[int]], max_padding: float | None) -> list[int]:
    """The longest head of ``idx`` (ascending lengths) whose padding stays within ``max_padding``."""
    if max_padding is None or len(idx) < 2:
        return idx
    total = 0
    for n, i in enumerate(idx):
        total += len(rows[i])
        if n and len(rows[i]) * (n + 1) - total > max_padding * total:
            return idx[:n]
    return idx


def length_sorted(rows: Sequence[Sequence[int]], batch_size: int, max_padding: float | None) -> Iterator[list[int]]:
    """Batches of indices into ``rows``, shortest first, each within ``batch_size`` and ``max_padding``."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    pos = 0
    while pos < len(order):
        idx = bounded_padding(order[pos: pos + batch_size], rows, max_padding)
        yield idx
        pos += len(idx)


__all__ = ["bounded_padding", "length_sorted"]
