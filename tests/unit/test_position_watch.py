"""The projection's position watch as a coroutine waits on it: woken from another thread."""

from __future__ import annotations

import asyncio
import threading

from skill_ledger.readside.progress import PositionWatch


def test_a_coroutine_waiting_for_a_position_wakes_when_another_thread_advances_past_it() -> None:
    watch = PositionWatch(3)

    async def scenario() -> tuple[bool, bool]:
        waiting = asyncio.ensure_future(watch.reached(5, timeout=5))
        await asyncio.sleep(0.01)
        early = waiting.done()
        threading.Thread(target=watch.advance, args=(6,)).start()
        return early, await waiting

    early, reached = asyncio.run(scenario())
    assert early is False
    assert reached is True


def test_a_coroutine_wait_that_runs_out_answers_false_and_leaves_no_waiter_behind() -> None:
    watch = PositionWatch(3)

    async def scenario() -> bool:
        return await watch.reached(4, timeout=0.02)

    assert asyncio.run(scenario()) is False
    watch.advance(4)  # nothing left to wake on a closed loop
    assert asyncio.run(scenario()) is True


def test_a_position_already_passed_needs_no_wait() -> None:
    watch = PositionWatch(9)
    assert asyncio.run(watch.reached(7, timeout=0)) is True
