"""The service's per-request limits and the defaults of its knobs.

No dependency beyond the standard library: ``interank serve --help`` (and every
other ``interank`` command, which builds the same parser) reads these defaults
without the ``serve`` extra installed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import InvalidInputError

DEFAULT_MAX_DOCUMENTS = 1000
DEFAULT_MAX_DOCUMENT_CHARS = 100_000
DEFAULT_MAX_QUERY_CHARS = 10_000
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
#: estimated tokens of scoring one request may ask for (documents x pair length; see guards.estimate_tokens)
DEFAULT_MAX_REQUEST_TOKENS = 131_072
DEFAULT_REQUEST_TIMEOUT = 120.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_QUEUE = 256


@dataclass(frozen=True)
class Limits:
    """Per-request limits of one app (422 above the counts and lengths, 413 above the body size and budget).

    Raises:
        InvalidInputError: a limit below 1.
    """

    max_documents: int = DEFAULT_MAX_DOCUMENTS
    max_document_chars: int = DEFAULT_MAX_DOCUMENT_CHARS
    max_query_chars: int = DEFAULT_MAX_QUERY_CHARS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_request_tokens: int = DEFAULT_MAX_REQUEST_TOKENS

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            if value < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {value}")

    def as_dict(self) -> dict[str, int]:
        """The limits by name (as ``/health`` reports them)."""
        return asdict(self)
