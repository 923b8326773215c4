"""Stash's filter criteria, evaluated in Python with Stash's SQL semantics.

Each function mirrors the SQL Stash generates for one criterion type (see Stash's
``pkg/sqlite/filter*.go``), including how NULLs behave, so that a filter which selects a set
of scenes in Stash selects the same set here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError

# Stash's pkg/models/resolution.go: the [min, max] of MIN(width, height) for each tier.
RESOLUTION_RANGES: dict[str, tuple[int, int]] = {
    "VERY_LOW": (144, 239),
    "LOW": (240, 359),
    "R360P": (360, 479),
    "STANDARD": (480, 539),
    "WEB_HD": (540, 719),
    "STANDARD_HD": (720, 1079),
    "FULL_HD": (1080, 1439),
    "QUAD_HD": (1440, 1919),
    "VR_HD": (1920, 2159),
    "FOUR_K": (1920, 2559),
    "FIVE_K": (2560, 2999),
    "SIX_K": (3000, 3583),
    "SEVEN_K": (3584, 3839),
    "EIGHT_K": (3840, 6143),
    "HUGE": (6144, 9999),
}


def criterion_error(name: str, message: str) -> GraphQLError:
    return GraphQLError(f"filter {name}: {message}")


def number_matches(value: float | None, criterion: Mapping[str, Any], name: str) -> bool:
    """``IntCriterionInput``/``FloatCriterionInput``; BETWEEN bounds are inclusive."""
    modifier = criterion["modifier"]
    if modifier == "IS_NULL":
        return value is None
    if modifier == "NOT_NULL":
        return value is not None
    if value is None:
        return False
    target = criterion["value"]
    if modifier == "EQUALS":
        return value == target
    if modifier == "NOT_EQUALS":
        return value != target
    if modifier == "GREATER_THAN":
        return value > target
    if modifier == "LESS_THAN":
        return value < target
    if modifier in ("BETWEEN", "NOT_BETWEEN"):
        upper = criterion.get("value2")
        if upper is None:
            raise criterion_error(name, f"{modifier} needs value2")
        inside = target <= value <= upper
        return inside if modifier == "BETWEEN" else not inside
    raise criterion_error(name, f"modifier {modifier} is not valid for a number")


def _like(pattern: str) -> re.Pattern[str]:
    """SQLite LIKE (case-insensitive, ``%`` and ``_`` wildcards) as a regex."""
    parts = [".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _words(text: str) -> list[str]:
    """Stash splits an unquoted search on whitespace and keeps a quoted one whole."""
    stripped = text.strip()
    unquoted = stripped.strip('"')
    if unquoted != stripped:
        return [unquoted]
    return [word for word in stripped.split() if word]


def string_matches(value: str | None, criterion: Mapping[str, Any], name: str) -> bool:
    """``StringCriterionInput`` with SQL NULL semantics (a NULL never matches a LIKE)."""
    modifier = criterion["modifier"]
    target = criterion.get("value") or ""
    if modifier == "IS_NULL":
        return value is None or value.strip() == ""
    if modifier == "NOT_NULL":
        return value is not None and value.strip() != ""
    if modifier == "MATCHES_REGEX":
        return value is not None and _regex(target, name).search(value) is not None
    if modifier == "NOT_MATCHES_REGEX":
        return value is None or _regex(target, name).search(value) is None
    if value is None:
        return False
    if modifier == "EQUALS":
        return _like(target).fullmatch(value) is not None
    if modifier == "NOT_EQUALS":
        return _like(target).fullmatch(value) is None
    if modifier == "INCLUDES":
        return any(word.casefold() in value.casefold() for word in _words(target))
    if modifier == "EXCLUDES":
        return all(word.casefold() not in value.casefold() for word in _words(target))
    raise criterion_error(name, f"modifier {modifier} is not valid for a string")


def any_string_matches(values: Collection[str], criterion: Mapping[str, Any], name: str) -> bool:
    """A string criterion over a joined list (aliases, URLs): true when any row matches, and
    an empty list behaves as one NULL row (the LEFT JOIN Stash uses)."""
    rows: Iterable[str | None] = values or [None]
    return any(string_matches(v, criterion, name) for v in rows)


def _regex(pattern: str, name: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise criterion_error(name, f"invalid regular expression {pattern!r}: {exc}") from None


def ids_match(present: Collection[int], criterion: Mapping[str, Any], name: str) -> bool:
    """``MultiCriterionInput``/``HierarchicalMultiCriterionInput`` (depth is ignored: the
    emulator has no tag hierarchy)."""
    modifier = criterion["modifier"]
    have = set(present)
    if modifier == "IS_NULL":
        return not have
    if modifier == "NOT_NULL":
        return bool(have)
    values = {_as_int(v, name) for v in criterion.get("value") or ()}
    excludes = {_as_int(v, name) for v in criterion.get("excludes") or ()}
    if modifier == "EXCLUDES":
        modifier, excludes, values = "INCLUDES_ALL", excludes | values, set()
    if have & excludes:
        return False
    if not values:
        return True
    if modifier == "INCLUDES":
        return bool(have & values)
    if modifier == "INCLUDES_ALL":
        return values <= have
    if modifier == "EQUALS":
        return have == values
    raise criterion_error(name, f"modifier {modifier} is not supported for a multi criterion")


def resolution_matches(width: int, height: int, criterion: Mapping[str, Any]) -> bool:
    """``ResolutionCriterionInput`` compares the shorter side with the tier's range."""
    low, high = RESOLUTION_RANGES[criterion["value"]]
    side = min(width, height)
    modifier = criterion["modifier"]
    if modifier == "EQUALS":
        return low <= side <= high
    if modifier == "NOT_EQUALS":
        return not low <= side <= high
    if modifier == "LESS_THAN":
        return side < low
    if modifier == "GREATER_THAN":
        return side > high
    raise criterion_error("resolution", f"modifier {modifier} is not supported (EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)")


def stash_id_matches(stash_ids: Iterable[tuple[str, str]], criterion: Mapping[str, Any], name: str) -> bool:
    """``StashIDCriterionInput``: a LEFT JOIN on the endpoint (when given), then a string
    criterion on ``stash_id``; with no matching row the joined value is NULL."""
    endpoint = criterion.get("endpoint")
    values = [sid for ep, sid in stash_ids if not endpoint or ep == endpoint]
    string_criterion = {"value": criterion.get("stash_id") or "", "modifier": criterion["modifier"]}
    return any(string_matches(v, string_criterion, name) for v in (values or [None]))


def gender_matches(value: str | None, criterion: Mapping[str, Any]) -> bool:
    modifier = criterion["modifier"]
    wanted = set(criterion.get("value_list") or ()) | ({criterion["value"]} if criterion.get("value") else set())
    if modifier == "IS_NULL":
        return value is None
    if modifier == "NOT_NULL":
        return value is not None
    if modifier in ("EQUALS", "INCLUDES"):
        return value in wanted
    if modifier in ("NOT_EQUALS", "EXCLUDES"):
        return value is not None and value not in wanted
    raise criterion_error("gender", f"modifier {modifier} is not supported")


def _parse_time(text: str, name: str) -> datetime:
    cleaned = text.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise criterion_error(name, f"{text!r} is not a date/time (use RFC 3339 or YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def time_matches(value: str | None, criterion: Mapping[str, Any], name: str) -> bool:
    """``TimestampCriterionInput``/``DateCriterionInput``: compare instants (or days)."""
    modifier = criterion["modifier"]
    if modifier in ("IS_NULL", "NOT_NULL"):
        return (value is None or value == "") == (modifier == "IS_NULL")
    if not value:
        return False
    numeric = {"modifier": modifier, "value": _parse_time(criterion["value"], name).timestamp()}
    if criterion.get("value2"):
        numeric["value2"] = _parse_time(criterion["value2"], name).timestamp()
    return number_matches(_parse_time(value, name).timestamp(), numeric, name)


def search_matches(q: str, haystacks: Iterable[str | None]) -> bool:
    """``FindFilterType.q``: every word must appear in some searched column; ``-word``
    excludes; a quoted phrase is one word."""
    texts = [h.casefold() for h in haystacks if h]
    try:
        tokens = shlex.split(q)
    except ValueError:
        tokens = q.split()
    for token in tokens:
        if token.startswith("-") and len(token) > 1:
            if any(token[1:].casefold() in t for t in texts):
                return False
        elif not any(token.casefold() in t for t in texts):
            return False
    return True


def _as_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise criterion_error(name, f"{value!r} is not an id") from None

