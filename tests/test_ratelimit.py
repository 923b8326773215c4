"""The priority rate limiter: rate, order, fairness, cancellation safety and metrics."""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import pytest

from stash_sense.stash.ratelimit import (
    LimiterRegistry,
    Priority,
    RateLimiter,
    default_stash_rate,
    get_limiter,
    limiter_for_stash,
    limiter_for_stashbox,
    registry,
    target_key,
)

# asyncio timers are precise to about a millisecond; allow for a loaded CI box on top.
SLACK = 0.06


async def _enqueue_all(coros: list) -> list[asyncio.Task]:
    """Start tasks and let every one of them reach the limiter's queue."""
    tasks = [asyncio.create_task(c) for c in coros]
    await asyncio.sleep(0)
    return tasks


async def _stamp(limiter: RateLimiter, priority: Priority, tag: object, log: list) -> float:
    """Acquire and log ``(grant time, tag)``.

    The grant time is reconstructed from the reported wait rather than read when the task
    resumes, so a busy event loop delaying the resumption does not distort the spacing.
    """
    asked = time.monotonic()
    wait = await limiter.acquire(priority)
    log.append((asked + wait, tag))
    return wait


async def test_200_mixed_requests_at_5_per_second_take_40_seconds() -> None:
    limiter = RateLimiter(5.0, name="rate-test")
    rng = random.Random(7)
    log: list[tuple[float, object]] = []
    priorities = [rng.choice(list(Priority)) for _ in range(200)]
    start = time.monotonic()
    await asyncio.gather(*(_stamp(limiter, p, i, log) for i, p in enumerate(priorities)))
    elapsed = time.monotonic() - start

    # 200 slots 0.2 s apart: the first at once, the last at 39.8 s.
    assert 40 * 0.95 <= elapsed <= 40 * 1.05, elapsed
    times = sorted(t for t, _ in log)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.2 - 0.002, f"two requests only {min(gaps):.4f} s apart"
    m = limiter.metrics()
    assert m.total_requests == 200
    assert m.queue_depth == 0
    assert sum(m.requests_by_priority.values()) == 200
    assert m.requests_by_priority == {p.name: priorities.count(p) for p in Priority}
    assert 19.0 * 0.9 < m.max_wait_s <= 39.8 + 1.0  # the last LOW caller waited almost the whole run
    assert 0 < m.average_wait_s < m.max_wait_s


async def test_priority_order_then_fifo() -> None:
    limiter = RateLimiter(200.0)
    await limiter.acquire()  # take the free slot so every caller below has to queue
    rng = random.Random(3)
    plan = [(rng.choice(list(Priority)), i) for i in range(60)]
    order: list[object] = []
    tasks = await _enqueue_all([_stamp(limiter, p, (p, i), order) for p, i in plan])
    assert limiter.metrics().queue_depth == 60
    await asyncio.gather(*tasks)
    served = [tag for _, tag in sorted(order, key=lambda entry: entry[0])]
    assert [tag for _, tag in order] == served  # resumption order is grant order
    assert served == sorted(plan, key=lambda pi: (int(pi[0]), pi[1]))


async def test_critical_behind_100_low_waits_at_most_one_slot() -> None:
    limiter = RateLimiter(50.0)  # 20 ms slots
    order: list[tuple[float, object]] = []
    lows = await _enqueue_all([_stamp(limiter, Priority.LOW, ("low", i), order) for i in range(100)])
    await asyncio.sleep(0.1)  # let a few LOW ones through so the queue is running
    assert limiter.metrics().queue_depth_by_priority["LOW"] > 80

    served_before = len(order)
    wait = await limiter.acquire(Priority.CRITICAL)
    order.append((time.monotonic(), "critical"))
    assert wait <= limiter.interval + SLACK
    # At most the one slot already due was given to a LOW caller first.
    assert order.index(order[-1]) - served_before <= 1
    for task in lows:
        task.cancel()
    await asyncio.gather(*lows, return_exceptions=True)
    assert limiter.metrics().queue_depth == 0


async def test_cancelled_waiters_leave_no_trace() -> None:
    limiter = RateLimiter(100.0)
    await limiter.acquire()
    order: list[tuple[float, object]] = []
    tasks = await _enqueue_all([_stamp(limiter, Priority.NORMAL, i, order) for i in range(10)])
    for i in (0, 3, 4, 9):
        tasks[i].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [isinstance(r, asyncio.CancelledError) for r in results].count(True) == 4
    assert [tag for _, tag in order] == [1, 2, 5, 6, 7, 8]
    # The survivors were not slowed down by the cancelled ones: 6 slots, the first right away.
    m = limiter.metrics()
    assert m.queue_depth == 0 and all(v == 0 for v in m.queue_depth_by_priority.values())
    assert m.cancelled_requests == 4
    assert m.total_requests == 1 + 6
    assert m.max_wait_s <= 6 * limiter.interval + SLACK


async def test_timeouts_while_queued_do_not_deadlock() -> None:
    limiter = RateLimiter(10.0)
    await limiter.acquire()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire(Priority.LOW), timeout=0.01)
    # Cancel everything that queues, repeatedly: the limiter must still serve the next caller
    # on time, and never hand a slot to a caller that is gone.
    for _ in range(3):
        doomed = await _enqueue_all([limiter.acquire(Priority.HIGH) for _ in range(5)])
        for t in doomed:
            t.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
    assert limiter.queue_depth == 0
    wait = await asyncio.wait_for(limiter.acquire(Priority.NORMAL), timeout=1.0)
    assert wait <= limiter.interval + SLACK


async def test_slot_granted_then_cancelled_passes_to_next_waiter() -> None:
    """A caller cancelled in the instant it is handed a slot gives that slot to the next one."""
    limiter = RateLimiter(5.0)  # 200 ms slots, so a wasted slot would be obvious
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire(Priority.HIGH))
    await asyncio.sleep(0)
    second_log: list[tuple[float, object]] = []
    second = asyncio.create_task(_stamp(limiter, Priority.NORMAL, "second", second_log))
    await asyncio.sleep(0)

    # Cancel `first` right after the limiter resolves its slot, before it can run again: the
    # race a wait_for() timeout hits when it expires on the same loop turn as the slot.
    original_grant = limiter._grant

    def grant_then_cancel(waiter, at):  # type: ignore[no-untyped-def]
        original_grant(waiter, at)
        if waiter.priority is Priority.HIGH:
            first.cancel()

    limiter._grant = grant_then_cancel  # type: ignore[method-assign]
    granted_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    waited_after_first = second_log[0][0] - granted_at
    assert waited_after_first < limiter.interval + SLACK + 0.01, waited_after_first
    m = limiter.metrics()
    assert m.total_requests == 2  # the initial one and `second`; `first` never used its slot
    assert m.cancelled_requests == 1
    assert m.queue_depth == 0


async def test_refunded_slot_lets_next_caller_in_at_once() -> None:
    limiter = RateLimiter(5.0)
    await limiter.acquire()
    only = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    original_grant = limiter._grant

    def grant_then_cancel(waiter, at):  # type: ignore[no-untyped-def]
        original_grant(waiter, at)
        only.cancel()

    limiter._grant = grant_then_cancel  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await only
    limiter._grant = original_grant  # type: ignore[method-assign]
    assert await limiter.acquire() == 0.0


async def test_slot_context_manager_and_metrics() -> None:
    limiter = RateLimiter(20.0, name="ctx")
    async with limiter.slot(Priority.HIGH) as waited:
        assert waited == 0.0
    tasks = await _enqueue_all([limiter.acquire(p) for p in (Priority.LOW, Priority.LOW, Priority.HIGH)])
    m = limiter.metrics()
    assert m.queue_depth == 3
    assert m.queue_depth_by_priority == {"CRITICAL": 0, "HIGH": 1, "NORMAL": 0, "LOW": 2}
    waits = await asyncio.gather(*tasks)
    m = limiter.metrics()
    assert m.name == "ctx" and m.rate_per_second == 20.0
    assert m.total_requests == 4
    assert m.requests_by_priority == {"CRITICAL": 0, "HIGH": 2, "NORMAL": 0, "LOW": 2}
    assert m.max_wait_s == pytest.approx(max(waits))
    assert m.average_wait_s == pytest.approx(sum(waits) / 4)
    assert waits[2] < waits[0] < waits[1]  # HIGH first, then the LOWs in order
    assert m.model_dump()["queue_depth"] == 0  # serialisable for the health endpoint


async def test_set_rate_applies_to_queued_callers() -> None:
    limiter = RateLimiter(0.5)  # 2 s slots
    await limiter.acquire()
    task = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    limiter.set_rate(50.0)
    wait = await asyncio.wait_for(task, timeout=1.0)
    assert wait < 0.1


def test_priority_parse() -> None:
    assert Priority.parse("low") is Priority.LOW
    assert Priority.parse(" Critical ") is Priority.CRITICAL
    assert Priority.parse(10) is Priority.HIGH
    assert Priority.parse(Priority.NORMAL) is Priority.NORMAL
    for bad in ("urgent", 7, True, None, 1.5):
        with pytest.raises(ValueError, match="unknown request priority"):
            Priority.parse(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan"), "fast"])
def test_invalid_rates_are_refused(rate: object) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RateLimiter(rate)  # type: ignore[arg-type]


def test_rate_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STASH_RATE_LIMIT", raising=False)
    assert default_stash_rate() == 5.0
    monkeypatch.setenv("STASH_RATE_LIMIT", "2.5")
    assert default_stash_rate() == 2.5
    monkeypatch.setenv("STASH_RATE_LIMIT", "lots")
    with pytest.raises(ValueError, match="STASH_RATE_LIMIT"):
        default_stash_rate()
    monkeypatch.setenv("STASH_RATE_LIMIT", "0")
    with pytest.raises(ValueError, match="STASH_RATE_LIMIT"):
        default_stash_rate()


def test_registry_one_limiter_per_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STASH_RATE_LIMIT", "3")
    reg = LimiterRegistry()
    a = reg.get(target_key("http://Stash.local:9999/"))
    b = reg.get(target_key("http://stash.local:9999"))
    assert a is b and a.rate_per_second == 3.0
    assert reg.get(target_key("http://other:9999")) is not a
    assert reg.get(target_key("http://stash.local:9999"), 7.0) is a and a.rate_per_second == 7.0
    assert len(reg.metrics()) == 2
    with pytest.raises(ValueError):
        reg.get("")


def test_module_registry_factories() -> None:
    box = limiter_for_stashbox("https://StashDB.org/graphql", max_requests_per_minute=240)
    assert box is limiter_for_stashbox("https://stashdb.org/graphql/")
    assert box.rate_per_second == pytest.approx(4.0)
    assert limiter_for_stashbox("https://fansdb.cc/graphql", 0).rate_per_second == pytest.approx(4.0)
    with pytest.raises(ValueError):
        limiter_for_stashbox("https://fansdb.cc/graphql", -5)
    stash = limiter_for_stash("http://127.0.0.1:9999", 2.0)
    assert stash is get_limiter(target_key("http://127.0.0.1:9999"))
    assert stash is not box
    # Query strings (which may carry credentials) never become part of a key.
    assert target_key("http://h:1/x?apikey=SECRET") == "http://h:1/x"
    for key in (target_key(box_url) for box_url in ("https://stashdb.org/graphql",)):
        assert key in registry.all()


async def test_a_429_pauses_everyone_and_drops_the_rate_below_what_the_server_accepted() -> None:
    limiter = RateLimiter(20.0)
    for _ in range(10):  # half a second at 20/s: the server took these, then said 429
        await limiter.acquire()
    limiter.throttled(0.5, sent_at=time.monotonic())
    assert limiter.metrics().throttled_responses == 1
    assert limiter.first_throttled_at is not None
    # Half of what was accepted in the last second (10), never above the old rate.
    assert limiter.rate_per_second == pytest.approx(5.0)
    asked = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - asked >= 0.5 - SLACK  # nobody before Retry-After
    # A 429 of a request sent before the slow-down only extends the pause: no second drop.
    limiter.throttled(0.1, sent_at=asked - 1.0)
    assert limiter.rate_per_second == pytest.approx(5.0)
    assert limiter.metrics().throttled_responses == 2


async def test_a_declared_server_budget_wins() -> None:
    limiter = RateLimiter(50.0)
    await limiter.acquire()
    limiter.throttled(0.0, sent_at=time.monotonic(), declared_rate=4.0)
    assert limiter.rate_per_second == pytest.approx(3.6)  # 90% of RateLimit-Policy's 4/s
