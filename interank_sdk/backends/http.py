"""One HTTP transport for the remote backends: a bounded pool, timeouts, retries, a key that is never shown.

Used by the OpenAI-compatible backend and the ``/rerank`` client backend.
Requests run concurrently on a bounded pool of threads (``max_concurrency``)
sharing one ``httpx`` connection pool; each has a timeout; connection errors,
timeouts, 429 and 5xx answers are retried with exponential backoff and jitter
(tenacity), honouring ``Retry-After``; other 4xx answers raise
:class:`~interank_sdk.errors.BackendError` with the server's message at once.
The API key is sent as a Bearer token and never logged, shown in ``repr`` or
put in an exception.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .._deps import require
from ..errors import BackendError, InvalidInputError, check_int

logger = logging.getLogger(__name__)

#: environment variables read (in this order) when no ``api_key`` is given. Not ``$INTERANK_API_KEY``: that is
#: the key ``interank serve`` accepts, and a service's own key must never travel to an upstream server
API_KEY_ENV = ("INTERANK_BACKEND_API_KEY",)

T = TypeVar("T")
R = TypeVar("R")


class Retryable(Exception):
    """A failure worth retrying (connection error, timeout, 429, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_message(response: Any) -> str:
    """The server's error message from a JSON or text body, shortened."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        err = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(err, dict):
            text = str(err.get("message") or err.get("detail") or err)
        else:
            text = str(err)
    text = " ".join(text.split())
    return text[:500] + ("..." if len(text) > 500 else "")


def retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class HTTPTransport:
    """POST JSON to a server with retries; map a function over items on a bounded pool.

    Args:
        base_url: the server's URL (paths are relative to it).
        api_key: bearer token; default: the first of ``key_env`` that is set.
        key_env: environment variables to read the key from (default :data:`API_KEY_ENV`).
        headers: extra HTTP headers.
        timeout: seconds allowed for one request (connect, read, write).
        max_retries: retries after a connection error, a timeout, 429 or 5xx.
        backoff: first backoff in seconds; doubles up to ``max_backoff``.
        max_backoff: longest wait between two tries.
        max_concurrency: requests in flight at once.
        show_progress: progress bar in :meth:`map`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_concurrency: int = 8,
        show_progress: bool = False,
        key_env: tuple[str, ...] = API_KEY_ENV,
    ) -> None:
        httpx = require("httpx", "remote")
        require("tenacity", "remote")
        check_int("max_concurrency", max_concurrency)
        check_int("max_retries", max_retries, minimum=0)
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise InvalidInputError(f"timeout must be > 0, got {timeout}")
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_concurrency = max_concurrency
        self.show_progress = show_progress
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        self.__api_key = api_key or next((os.environ[v] for v in key_env if os.environ.get(v)), None)
        send = {"User-Agent": "interank-sdk"}
        send.update(headers or {})
        if self.__api_key:
            send["Authorization"] = f"Bearer {self.__api_key}"
        self.client = httpx.Client(
            base_url=self.base_url, headers=send, timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )
        self.pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="interank-http")

    @property
    def has_key(self) -> bool:
        return bool(self.__api_key)

    def close(self) -> None:
        """Close the connection pool and the worker threads."""
        self.pool.shutdown(wait=False)
        self.client.close()

    def post(self, path: str, payload: dict[str, Any],
             inspect_response: Callable[[Any, dict[str, Any]], None] | None = None) -> Any:
        """POST with retries; returns the JSON answer or raises :class:`BackendError`.

        ``inspect_response(response, payload)`` may raise its own exception
        first (not retried), e.g. to recognise a server that refuses a payload form.
        """
        tenacity = require("tenacity", "remote")
        httpx = require("httpx", "remote")
        expo = tenacity.wait_exponential_jitter(initial=self.backoff, max=self.max_backoff)

        def wait(state: Any) -> float:
            base = expo(state)
            exc = state.outcome.exception() if state.outcome is not None else None
            after = getattr(exc, "retry_after", None)
            return max(base, min(after, self.max_backoff)) if after else base

        def before_sleep(state: Any) -> None:
            logger.warning(
                "%s%s failed (%s); retry %d/%d in %.1f s",
                self.base_url, path, state.outcome.exception(), state.attempt_number, self.max_retries,
                state.next_action.sleep if state.next_action else 0.0,
            )

        def once() -> Any:
            with self._count_lock:
                self.requests_sent += 1
            try:
                response = self.client.post(path, json=payload)
            except httpx.TimeoutException as exc:
                raise Retryable(f"timed out after {self.timeout:g} s ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                raise Retryable(f"{type(exc).__name__}: {exc}") from exc
            if inspect_response is not None:
                inspect_response(response, payload)
            status = response.status_code
            if status == 429 or status >= 500:
                raise Retryable(f"HTTP {status}: {error_message(response)}", retry_after(response))
            if status >= 400:
                hint = " (check the API key)" if status in (401, 403) else ""
                raise BackendError(f"{self.base_url}{path} answered HTTP {status}{hint}: {error_message(response)}")
            try:
                return response.json()
            except ValueError as exc:
                raise BackendError(f"{self.base_url}{path} answered non-JSON: {response.text[:200]!r}") from exc

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1), wait=wait,
            retry=tenacity.retry_if_exception_type(Retryable), before_sleep=before_sleep, reraise=True,
        )
        try:
            return retrying(once)
        except Retryable as exc:
            raise BackendError(
                f"{self.base_url}{path} kept failing after {self.max_retries + 1} attempts: {exc}"
            ) from None

    def map(self, fn: Callable[[T], R], items: Sequence[T], desc: str) -> list[R]:
        """Apply ``fn`` to every item on the bounded pool; results in order, the first error raised."""
        if not items:
            return []
        futures = [self.pool.submit(fn, item) for item in items]
        bar = None
        if self.show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), desc=desc, unit="req", leave=False)
        try:
            out = []
            for fut in futures:
                out.append(fut.result())
                if bar is not None:
                    bar.update(1)
            return out
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
        finally:
            if bar is not None:
                bar.close()


__all__ = ["API_KEY_ENV", "HTTPTransport", "Retryable", "error_message", "retry_after"]
