"""Threads for work the event loop must not wait on: scoring calls and model loading.

Both are daemon threads: Python cannot interrupt a call stuck in native code
(a hung GPU kernel, a backend that never answers), so a stuck call must not
also keep the process from exiting on SIGTERM, as ``asyncio.to_thread``'s
executor threads would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any


class ScoringThread:
    """One daemon thread that runs scoring calls in order (a stuck call never blocks interpreter exit)."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="interank-scoring", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            fn, context, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(context.run(fn))
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                future.set_exception(exc)

    def run(self, fn: Callable[[], Any]) -> asyncio.Future:
        """Schedule ``fn`` (with the caller's context variables); await the returned future."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((fn, contextvars.copy_context(), future))
        return asyncio.wrap_future(future)

    def close(self) -> None:
        self._calls.put(None)


def in_daemon_thread(fn: Callable[[], Any], name: str) -> asyncio.Future:
    """Run ``fn`` in a new daemon thread; await the returned future for its result.

    Unlike ``asyncio.to_thread``, a call that never returns (a hung model load)
    does not keep the process from exiting.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def deliver(result: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            result, exc = fn(), None
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
            result, exc = None, error
        try:
            loop.call_soon_threadsafe(deliver, result, exc)
        except RuntimeError:  # the event loop has closed: nobody is waiting any more
            pass

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(target,), name=name, daemon=True).start()
    return future
