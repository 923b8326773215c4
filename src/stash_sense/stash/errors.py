"""What can go wrong when talking to Stash or a stash-box, as a small exception hierarchy.

Every message names the server URL (credentials redacted) and never contains an API key, so
these exceptions can be logged, shown in the dashboard or returned by the sidecar API as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class StashError(Exception):
    """Base class: any failure talking to Stash or a stash-box."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return self.message


class StashUnreachableError(StashError):
    """No HTTP answer at all: connection refused, DNS failure, TLS failure, timeout."""


class StashTimeoutError(StashUnreachableError):
    """The server accepted the connection but did not answer in time."""


class StashAuthError(StashError):
    """401/403: the API key is missing, wrong, or lacks the rights for this request."""

    def __init__(self, message: str, *, url: str | None = None, status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class StashServerError(StashError):
    """5xx after all retries."""

    def __init__(self, message: str, *, url: str | None = None, status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class StashRequestError(StashError):
    """Any other 4xx: the server understood the request and refused it; retrying cannot help."""

    def __init__(self, message: str, *, url: str | None = None, status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class StashProtocolError(StashError):
    """The answer is not what a GraphQL server sends (HTML, malformed JSON, no ``data``)."""


class StashGraphQLError(StashError):
    """The server answered with a GraphQL ``errors`` array; ``messages`` keeps every message."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        messages: Sequence[str] = (),
        errors: Sequence[dict[str, Any]] = (),
        status: int = 200,
    ) -> None:
        super().__init__(message, url=url)
        self.messages = list(messages)
        self.errors = list(errors)
        self.status = status


class StashNotFoundError(StashError):
    """The object (scene, performer, media file) does not exist."""

    def __init__(self, message: str, *, url: str | None = None, kind: str = "", id: str | None = None) -> None:
        super().__init__(message, url=url)
        self.kind = kind
        self.id = id


class StashForeignHostError(StashError, ValueError):
    """A media URL points at another host; we refuse to send the Stash API key there."""


class StashResponseTooLargeError(StashError):
    """A media response was larger than the caller allowed."""
