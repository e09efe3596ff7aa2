"""API keys for ``interank serve``: Bearer tokens on every route but the liveness probe.

Keys come from ``--api-key`` (repeatable), ``--api-key-file`` (one key per
line, ``#`` comments) and the ``INTERANK_API_KEY`` environment variable. A
request must send ``Authorization: Bearer <key>``; the comparison is constant
time and runs against every configured key, so timing tells nothing about
which key or how much of it matched. A refused request gets 401 with
``WWW-Authenticate: Bearer``; keys are never logged or echoed.

Open without a key: ``GET /health`` (liveness), and ``GET /metrics`` only when
the operator opens it (``--metrics-public``). Unlike vLLM's ``--api-key``, the
rerank routes are never left open.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .logs import REQUEST_ID

logger = logging.getLogger(__name__)

#: environment variable holding one key (several separated by commas)
API_KEY_ENV = "INTERANK_API_KEY"
#: routes that never need a key
ALWAYS_OPEN = frozenset({"/health"})
#: keys shorter than this are accepted with a warning (a short key is guessable)
MIN_KEY_LENGTH = 16


def load_api_keys(keys: Iterable[str] = (), key_file: str | os.PathLike[str] | None = None,
                  *, use_env: bool = True) -> list[str]:
    """All configured keys: ``keys``, the lines of ``key_file``, then ``$INTERANK_API_KEY``.

    A key shorter than :data:`MIN_KEY_LENGTH` is accepted with a warning.

    Raises:
        InvalidInputError: an unreadable or empty key file, or a key with
            whitespace or non-ASCII characters (the message never shows the key).
    """
    found: list[tuple[str, str]] = [(k, "--api-key") for k in keys]
    if key_file is not None:
        path = Path(key_file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read the API key file {path}: {exc.__class__.__name__}") from None
        found += [(line.strip(), f"{path} line {i}") for i, line in enumerate(lines, 1)
                  if line.strip() and not line.strip().startswith("#")]
        if not any(origin.startswith(str(path)) for _, origin in found):
            raise InvalidInputError(f"the API key file {path} holds no key")
    if use_env and os.environ.get(API_KEY_ENV):
        found += [(k.strip(), f"${API_KEY_ENV}") for k in os.environ[API_KEY_ENV].split(",") if k.strip()]
    out: list[str] = []
    for key, origin in found:
        if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
            raise InvalidInputError(f"the API key from {origin} must be printable ASCII without spaces")
        if len(key) < MIN_KEY_LENGTH:
            logger.warning("the API key from %s is shorter than %d characters, so easy to guess; generate one with "
                           "python -c 'import secrets; print(secrets.token_urlsafe(32))'", origin, MIN_KEY_LENGTH)
        if key not in out:
            out.append(key)
    return out


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname: it may resolve to any interface


def check_exposure(host: str, keys: Sequence[str], allow_unauthenticated: bool) -> None:
    """Refuse to serve without a key on an address other machines can reach.

    Raises:
        InvalidInputError: ``host`` is not a loopback address, no key is
            configured and ``allow_unauthenticated`` is false.
    """
    if keys or is_loopback(host):
        return
    if not allow_unauthenticated:
        raise InvalidInputError(
            f"refusing to serve on {host} without an API key: anyone who can reach the port could use it. "
            f"Set --api-key-file (or --api-key, or ${API_KEY_ENV}), or pass --allow-unauthenticated "
            "if something in front of the service authenticates requests"
        )
    logger.warning("serving on %s WITHOUT authentication (--allow-unauthenticated)", host)


class BearerAuth:
    """ASGI middleware: 401 unless ``Authorization: Bearer <one of keys>``.

    Args:
        app: the wrapped ASGI app.
        keys: accepted keys; empty disables the check.
        open_paths: paths served without a key (``/health`` always is).
    """

    def __init__(self, app: Any, keys: Sequence[str], open_paths: Iterable[str] = ()) -> None:
        self.app = app
        self._keys = [k.encode("ascii") for k in keys]
        self.open_paths = frozenset(open_paths) | ALWAYS_OPEN

    def authorized(self, header: bytes | None) -> bool:
        """Constant-time check of an ``Authorization`` header value against every key."""
        if header is None:
            return False
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        ok = False
        for key in self._keys:  # no early exit: the time does not depend on which key matched
            ok |= hmac.compare_digest(token, key)
        return ok and scheme.lower() == b"bearer"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self._keys or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                header = value
                break
        if self.authorized(header):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?",))[0]
        logger.warning("401 for %s %s from %s: %s", scope.get("method"), scope.get("path"), client,
                       "no Authorization header" if header is None else "not a valid Bearer key")
        challenge = b'Bearer realm="interank"' if header is None else b'Bearer realm="interank", error="invalid_token"'
        body = json.dumps({"message": "missing or invalid API key: send 'Authorization: Bearer <key>'",
                           "detail": "unauthorized", "request_id": REQUEST_ID.get()}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", challenge)]})
        await send({"type": "http.response.body", "body": body})
