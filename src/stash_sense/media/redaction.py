"""Keep API keys out of messages: Stash accepts its key as a header or an ``apikey=`` query value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"

# Query parameters that carry credentials in Stash and the usual web suspects.
_SECRET_PARAMS = frozenset({"apikey", "api_key", "key", "token", "access_token", "session", "password"})
# A secret query value embedded in free text (error strings from libraries include URLs).
# The value ends at a separator, or at punctuation that ends the sentence (``...?apikey=x: 401``).
_SECRET_IN_TEXT = re.compile(
    r"(?i)\b(apikey|api_key|access_token|token|session|password)=([^&\s'\"#]+?)(?=[&\s'\"#]|[:;,.)]+(?:\s|$)|$)"
)
_USERINFO_IN_TEXT = re.compile(r"(?i)\b(https?://)([^/\s:@]+):([^/\s@]+)@")


def redact_url(url: str) -> str:
    """``url`` with credential query values and any ``user:password@`` replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if not parts.scheme or not parts.netloc:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Free text with ``apikey=...``-style values and URL passwords replaced by ``***``."""
    text = _SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return _USERINFO_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}:{REDACTED}@", text)


def redact_secrets(text: str, headers: Mapping[str, str] | None) -> str:
    """:func:`redact_text` plus every header value, wherever it appears in ``text``."""
    text = redact_text(text)
    for value in (headers or {}).values():
        if value and len(value) >= 4:  # tiny values would blank out unrelated text
            text = text.replace(value, REDACTED)
    return text


def describe_headers(headers: Mapping[str, str] | None) -> str:
    """Header names only, e.g. ``" with headers [ApiKey]"``; empty when there are none."""
    if not headers:
        return ""
    return " with headers [" + ", ".join(sorted(headers)) + "]"
