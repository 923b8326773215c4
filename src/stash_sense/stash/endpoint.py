"""What the Stash and stash-box clients share: lifecycle, a key-free repr, and a guard that
each only ever sends documents written for its own schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import documents as docs
from .ratelimit import Priority, RateLimiter
from .transport import Transport


class GraphQLEndpointClient:
    target: docs.Target  # which schema this client's documents must be written for
    kind: str  # "Stash" or "stash-box", for error messages
    _t: Transport
    limiter: RateLimiter

    def _address(self) -> tuple[str, str]:
        """(attribute name, value) shown by repr: the URL, never the key."""
        raise NotImplementedError

    def __repr__(self) -> str:
        name, value = self._address()
        key = "set" if self._t.has_api_key else "none"
        return f"{type(self).__name__}({name}={value!r}, api_key=<{key}>, limiter={self.limiter.name!r})"

    async def __aenter__(self):  # noqa: ANN204 - returns the subclass
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._t.aclose()

    async def execute(
        self,
        document: docs.Document,
        variables: Mapping[str, Any] | None = None,
        *,
        priority: Priority | int | str = Priority.NORMAL,
    ) -> dict[str, Any]:
        """Send one document from :mod:`~stash_sense.stash.documents`; returns ``data``."""
        if isinstance(document, docs.Document) and document.target is not self.target:
            raise ValueError(f"{document.name} is a {document.target.value} document, not a {self.kind} one")
        return await self._t.execute(document, variables, priority=priority)
