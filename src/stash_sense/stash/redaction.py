"""Keep API keys out of anything a human (or a log file) might see.

Stash appends ``?apikey=<key>`` to the media URLs it returns when credentials are configured, so
URLs we got from Stash can carry the key. Every URL or message we put into an exception or a log
line goes through :func:`redact_url` / :class:`Redactor` first.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"
# Query parameters that carry credentials in Stash's (and common proxies') URLs.
SECRET_QUERY_PARAMS = frozenset({"apikey", "api_key", "token", "access_token", "key", "password"})


def _is_secret_param(name: str) -> bool:
    return name.lower() in SECRET_QUERY_PARAMS


def strip_secret_params(url: str) -> str:
    """``url`` without credential query parameters or user:password (used before *sending*)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_secret_param(k)]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def redact_url(url: str) -> str:
    """``url`` with credential values replaced by ``***`` (used before *showing*)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    query = [(k, REDACTED if _is_secret_param(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[-1]}"
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), parts.fragment))


class Redactor:
    """Scrubs known secrets from arbitrary text (error bodies can echo what we sent)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Very short strings would blank out ordinary words; real API keys are long JWTs/UUIDs.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text
