from __future__ import annotations

import asyncio

from dify_bridge.core.pacing import EditBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_burst_is_granted_at_once_then_tokens_come_at_the_rate() -> None:
    clock = FakeClock()
    budget = EditBudget(60, burst=2, clock=clock)
    await budget.acquire()
    await budget.acquire()
    waiter = asyncio.create_task(budget.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done(), "a third edit within the same second must wait"
    clock.now = 1.0
    await asyncio.wait_for(waiter, 2)
    assert budget.granted == 3


async def test_final_edits_go_before_intermediate_ones() -> None:
    budget = EditBudget(600, burst=1)  # one token every 0.1 s
    await budget.acquire()
    order: list[str] = []

    async def take(name: str, final: bool) -> None:
        await budget.acquire(final=final)
        order.append(name)

    tasks = [asyncio.create_task(take(f"mid{i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(take("final", True)))
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order[0] == "final"
    assert order[1:] == ["mid0", "mid1", "mid2"]


async def test_cancelled_waiter_does_not_consume_a_token() -> None:
    budget = EditBudget(600, burst=1)
    await budget.acquire()
    cancelled = asyncio.create_task(budget.acquire())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.wait_for(budget.acquire(), 2)
    assert budget.granted == 2


async def test_a_new_rate_serves_the_waiters_in_their_order_without_dropping_any() -> None:
    budget = EditBudget(1, burst=1)  # one token a minute: the waiters would wait for minutes
    await budget.acquire()
    order: list[str] = []

    async def take(name: str, final: bool) -> None:
        await budget.acquire(final=final)
        order.append(name)

    tasks = [asyncio.create_task(take(f"mid{i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(take("final", True)))
    await asyncio.sleep(0.1)
    assert order == [], "at one a minute nobody is served yet"
    budget.set_rate(600, burst=2)  # a share came back: one every 0.1 s
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["final", "mid0", "mid1", "mid2"]
    assert budget.per_minute == 600
    assert budget.granted == 5


async def test_a_lower_rate_slows_the_budget_and_caps_what_is_saved_up() -> None:
    clock = FakeClock()
    budget = EditBudget(60, burst=4, clock=clock)
    budget.set_rate(30, burst=1)  # another replica joined: half each
    assert budget.try_acquire()
    assert not budget.try_acquire(), "the saved-up burst shrank with the share"
    clock.now = 1.0
    assert not budget.try_acquire(), "one token every 2 s at 30 a minute"
    clock.now = 2.0
    assert budget.try_acquire()


async def test_a_pause_lasts_as_long_after_the_rate_changes() -> None:
    clock = FakeClock()
    budget = EditBudget(60, burst=1, clock=clock)
    budget.penalize(10)  # a 429 with Retry-After: 10
    budget.set_rate(120)
    clock.now = 9.0
    assert not budget.try_acquire(), "still paused: the rate change did not shorten the pause"
    clock.now = 11.0
    assert budget.try_acquire()
