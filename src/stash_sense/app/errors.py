"""Use-case failures, in words the caller can show as they are (never a secret)."""

from __future__ import annotations

from typing import Literal

# What kind of failure it is; the API maps each kind to one HTTP status (400, 404, 422).
Kind = Literal["invalid", "not_found", "unprocessable"]


class UseCaseError(Exception):
    """A request a use case refused or could not carry out; nothing was changed in Stash."""

    def __init__(self, kind: Kind, error: str, message: str) -> None:
        super().__init__(message)
        self.kind: Kind = kind
        self.error = error  # a stable machine-readable code, e.g. "stashbox_not_configured"
        self.message = message
