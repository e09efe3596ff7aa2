"""CPU threads that use every core, and back off when other processes need the cores (``threads="auto"``).

An embedded reranker shares its machine with the application. torch runs one
OpenMP thread per core, and OpenMP threads spin while they wait for each other:
when another process keeps a core busy, every parallel region waits for the
thread that lost its core: several times slower than one thread
(``bench/cross_encoder_speed.py --contention``; figures in docs/performance.md,
"Threads"). ``OMP_WAIT_POLICY=PASSIVE`` avoids the spinning but must be set
before torch starts and costs speed when the machine is idle.

``threads="auto"`` keeps the default policy and picks the thread count before
each scoring call: every core (at most ``$OMP_NUM_THREADS`` when it is set)
while the machine is otherwise idle, one core
fewer per core that other processes kept busy since the previous call (read from
``/proc/stat``, this process's own CPU time subtracted). It changes torch's
thread count of the calling thread (``torch.set_num_threads``), so it is opt-in
(``Reranker(..., threads="auto")``); the ``interank`` commands use it in their
own process. Linux only; elsewhere it keeps torch's setting.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

#: another process using at least this much of a core (on average since the last call) takes that core
BUSY_CORE = 0.5


def _proc_stat() -> tuple[float, float] | None:
    """``(busy, total)`` CPU time of the whole machine in seconds, or ``None`` where ``/proc/stat`` is missing."""
    try:
        with open("/proc/stat") as fh:
            fields = [float(x) for x in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields)
    return (total - idle) / tick, total / tick


class ThreadPolicy:
    """Decide torch's thread count for each scoring call.

    Args:
        threads: ``None`` (leave torch's setting alone), a positive int (that many
            threads), or ``"auto"`` (see the module docstring).
    """

    def __init__(self, threads: int | str | None) -> None:
        from ..errors import InvalidInputError

        if threads not in (None, "auto") and (isinstance(threads, bool) or not isinstance(threads, int)
                                              or threads < 1):
            raise InvalidInputError(f"threads must be None, 'auto' or a positive int, got {threads!r}")
        self.threads = threads
        self.cores = os.cpu_count() or 1
        pinned = os.environ.get("OMP_NUM_THREADS", "").strip()
        if pinned.isdigit() and int(pinned) > 0:  # the caller's ceiling: auto never goes above it
            self.cores = min(self.cores, int(pinned))
        self._last: tuple[float, float, float] | None = None  # machine busy, machine total, own CPU seconds
        self.current: int | None = None

    def others_busy(self) -> float | None:
        """Cores other processes kept busy since the previous call (``None`` on the first call or off Linux)."""
        stat = _proc_stat()
        if stat is None:
            return None
        own = sum(os.times()[:2])
        sample = (stat[0], stat[1], own)
        last, self._last = self._last, sample
        if last is None or sample[1] - last[1] <= 0:
            return None
        wall_cores = (sample[1] - last[1]) / self.cores  # seconds of wall time the sample spans
        others = (sample[0] - last[0]) - (sample[2] - last[2])
        return max(0.0, others / wall_cores) if wall_cores > 0 else None

    def choose(self) -> int | None:
        """The thread count for the next call (``None``: do not touch torch's)."""
        if self.threads is None:
            return None
        if isinstance(self.threads, int):
            return self.threads
        busy = self.others_busy()
        if busy is None:
            return self.current or self.cores
        taken = int(busy + (1.0 - BUSY_CORE))  # a core counts as taken from half a core of use
        return max(1, self.cores - taken)

    def apply(self) -> None:
        """Set torch's thread count for this thread's next parallel regions, if it changes."""
        n = self.choose()
        if n is None or n == self.current:
            return
        import torch

        torch.set_num_threads(n)
        if self.current is not None:
            logger.debug("threads: %d -> %d (other processes' load)", self.current, n)
        self.current = n


__all__ = ["BUSY_CORE", "ThreadPolicy"]
