"""Builders for the ``SceneFilterType`` / ``PerformerFilterType`` dicts we pass to Stash.

Plain dicts, because that is what goes over the wire; these helpers only keep field names and
modifiers right (tests check their output against the real schema). Combine with :func:`all_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Filter = dict[str, Any]
_OPERATORS = ("AND", "OR", "NOT")


def has_stash_id(endpoint: str | None = None) -> Filter:
    """Scenes or performers linked to ``endpoint`` (to any stash-box when None)."""
    criterion: Filter = {"modifier": "NOT_NULL"}
    if endpoint:
        criterion["endpoint"] = endpoint
    return {"stash_id_endpoint": criterion}


def stash_id_equals(endpoint: str, stash_id: str) -> Filter:
    """The scene or performer carrying this exact endpoint-qualified stash id."""
    if not endpoint or not stash_id:
        raise ValueError("both endpoint and stash_id are needed to match a stash id")
    return {"stash_id_endpoint": {"endpoint": endpoint, "stash_id": stash_id, "modifier": "EQUALS"}}


def performer_count_at_least(n: int) -> Filter:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"performer count must be an integer >= 1, got {n!r}")
    return {"performer_count": {"value": n - 1, "modifier": "GREATER_THAN"}}


def with_performers(performer_ids: Iterable[str | int], *, all_of: bool = False) -> Filter:
    """Scenes with any (or, with ``all_of``, every one) of these Stash performer ids."""
    ids = [str(p) for p in performer_ids]
    if not ids:
        raise ValueError("performer_ids must not be empty")
    return {"performers": {"value": ids, "modifier": "INCLUDES_ALL" if all_of else "INCLUDES"}}


def updated_since(timestamp: str) -> Filter:
    """Objects changed after ``timestamp`` (Stash accepts ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM``)."""
    if not timestamp:
        raise ValueError("timestamp must be a non-empty date or date-time string")
    return {"updated_at": {"value": timestamp, "modifier": "GREATER_THAN"}}


def all_of(*filters: Mapping[str, Any]) -> Filter:
    """A filter that holds when every given filter holds.

    Stash allows only one of AND/OR/NOT per filter object, so the parts are chained through
    ``AND``; at most one part may itself use AND/OR/NOT (it becomes the innermost link).
    """
    plain = [dict(f) for f in filters if f and not any(op in f for op in _OPERATORS)]
    nested = [dict(f) for f in filters if f and any(op in f for op in _OPERATORS)]
    if len(nested) > 1:
        raise ValueError("cannot combine two filters that both use AND/OR/NOT; nest them by hand")
    chain = plain + nested
    if not chain:
        return {}
    combined = chain[-1]
    for part in reversed(chain[:-1]):
        combined = {**part, "AND": combined}
    return combined
