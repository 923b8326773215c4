"""Reading a stash-box's performer list: the whole of it, what changed since a time, and ids only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from ...stash.models import StashBoxPerformer, StashBoxPerformerPage
from ...stash.ratelimit import Priority
from ...stash.stashbox import StashBoxClient

# The largest page real stash-boxes serve without complaint; fewer pages is fewer requests.
PAGE_SIZE = 100


def parse_time(value: str | None) -> datetime | None:
    """A stash-box ``Time`` (RFC 3339) as an aware datetime; ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def later(a: str | None, b: str | None) -> str | None:
    """The later of two stash-box times (either may be missing)."""
    ta, tb = parse_time(a), parse_time(b)
    if ta is None:
        return b
    if tb is None:
        return a
    return a if ta >= tb else b


async def page(box: StashBoxClient, number: int, *, per_page: int = PAGE_SIZE, sort: str = "CREATED_AT",
               direction: str = "ASC", ids_only: bool = False) -> StashBoxPerformerPage:
    return await box.query_performers(
        page=number, per_page=per_page, sort=sort, direction=direction, ids_only=ids_only, priority=Priority.LOW
    )


async def changed_since(box: StashBoxClient, since: str | None, endpoint: str) -> tuple[list[StashBoxPerformer], int, int]:
    """Performers updated at or after ``since`` (newest first), the catalogue's size, and pages read.

    Pages are read in ``UPDATED_AT`` descending order until one reaches past ``since``; ties at
    ``since`` are included (the caller compares them with what it stored).
    """
    cutoff = parse_time(since)
    found: list[StashBoxPerformer] = []
    number, count = 1, 0
    while True:
        result = await page(box, number, sort="UPDATED_AT", direction="DESC")
        count = result.count
        done = not result.performers
        for performer in result.performers:
            updated = parse_time(performer.updated)
            if cutoff is not None and updated is not None and updated < cutoff:
                done = True
                break
            found.append(performer.model_copy(update={"endpoint": endpoint}))
        if done or number * PAGE_SIZE >= count:
            return found, count, number
        number += 1


async def all_ids(box: StashBoxClient) -> AsyncIterator[list[str]]:
    """Every listed performer id, a page at a time (the sweep that finds deletions)."""
    number = 1
    while True:
        result = await page(box, number, ids_only=True)
        yield [p.id for p in result.performers]
        if not result.performers or number * PAGE_SIZE >= result.count:
            return
        number += 1
