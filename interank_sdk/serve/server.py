"""Running the app with uvicorn: connection limits, graceful drain, and a background server for tests.

:func:`make_server` builds the ``uvicorn.Server`` that ``interank serve`` runs:

* idle keep-alive connections close after ``timeout_keep_alive`` seconds, and a
  connection that sends no complete request head within ``header_timeout``
  seconds is closed (:func:`~interank_sdk.serve.guards.guarded_protocol`);
* at most ``max_connections`` connections and requests at once (uvicorn's
  ``limit_concurrency``: more get 503);
* on SIGTERM/SIGINT the service stops accepting connections, reports
  ``draining`` on ``/ready``, lets the requests in flight finish (up to
  ``graceful_timeout`` seconds), then exits with status 0.
"""

from __future__ import annotations

import logging
from typing import Any

from .._deps import require

logger = logging.getLogger(__name__)

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_KEEP_ALIVE = 5.0
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_GRACEFUL_TIMEOUT = 130.0


def make_server(app: Any, *, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info",
                log_config: dict | None = None, header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                timeout_keep_alive: float = DEFAULT_KEEP_ALIVE, max_connections: int = DEFAULT_MAX_CONNECTIONS,
                graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT) -> Any:
    """A ``uvicorn.Server`` for ``app`` with the service's connection limits and drain-on-SIGTERM."""
    uvicorn = require("uvicorn", "serve")
    from .guards import guarded_protocol

    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="on",
        http=guarded_protocol(header_timeout), timeout_keep_alive=int(max(1, round(timeout_keep_alive))),
        limit_concurrency=max_connections, timeout_graceful_shutdown=int(max(1, round(graceful_timeout))),
        **({"log_config": log_config} if log_config is not None else {}),
    )
    service = getattr(getattr(app, "state", None), "service", None)

    class DrainingServer(uvicorn.Server):
        """uvicorn's server, marking the service as draining as soon as it is asked to exit."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            if service is not None and not service.draining:
                service.draining = True
                logger.info("signal %d: draining the requests in flight, then exiting", sig)
            super().handle_exit(sig, frame)
            # uvicorn re-raises the signal after its shutdown; a completed drain is a normal exit (status 0)
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    return DrainingServer(config)


class BackgroundServer:
    """Run an ASGI app with uvicorn in a daemon thread (tests, benchmarks, notebooks).

    The socket is bound before the thread starts (``port=0`` picks a free
    port), so the URL is valid as soon as the context is entered. Keyword
    options go to :func:`make_server` (``header_timeout``, ``max_connections``...).

    Example:
        >>> with BackgroundServer(app) as url:  # doctest: +SKIP
        ...     httpx.post(f"{url}/v1/rerank", json={...})
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 **options: Any) -> None:
        import socket
        import threading

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.app = app
        self.server = make_server(app, host=self.host, port=self.port, log_level=log_level, log_config=None,
                                  **options)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def start(self, timeout: float = 60.0) -> str:
        """Start serving; returns the base URL once the server accepts connections."""
        import time

        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread exited during start-up (see the log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.02)
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the server to exit (as SIGTERM does: in-flight requests finish) and wait for its thread."""
        service = getattr(getattr(self.app, "state", None), "service", None)
        if service is not None:
            service.draining = True
        self.server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_ready(url: str, *, api_key: str | None = None, timeout: float = 120.0, process: Any = None,
               interval: float = 0.3) -> None:
    """Block until ``GET {url}/ready`` answers 200 (the model is loaded and work is accepted).

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:8080``.
        api_key: sent as a Bearer token (``/ready`` needs one when the server has keys).
        timeout: seconds to wait.
        process: a ``subprocess.Popen`` running the server: stop waiting if it exits.
        interval: seconds between tries.

    Raises:
        ServiceUnavailable: the process exited or the server was not ready within ``timeout``.
    """
    import time
    import urllib.error
    import urllib.request

    from .batcher import ServiceUnavailable

    request = urllib.request.Request(f"{url.rstrip('/')}/ready",
                                     headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ServiceUnavailable(f"the server process exited with status {process.returncode} before it was "
                                     "ready", retry_after=0, reason="failed")
        try:
            with urllib.request.urlopen(request, timeout=max(1.0, interval * 5)) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet, or 503 while loading
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"{url} was not ready within {timeout:g} s", retry_after=5, reason="loading")
        time.sleep(interval)
