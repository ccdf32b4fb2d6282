"""Slack's answer budget (slack_app.ack_budget) is counted from the request's arrival.

Bolt gives up 3 s after it starts a listener (it answers 404); a budget counted from the
listener's write instead of from arrival let a loaded CI host run past that."""

from __future__ import annotations

import asyncio
import time

import pytest

from slack_app import ack_budget


def _later(seconds: float) -> asyncio.Future[str]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()
    loop.call_later(seconds, done.set_result, "written")
    return done


def test_a_budget_spent_before_the_write_answers_at_once_and_the_write_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ack_budget, "ACK_BUDGET_S", 30.0)

    async def scenario() -> tuple[bool, str]:
        # Arrived 30 s ago: nothing is left, although the write itself needs only 0.2 s.
        context = {ack_budget._ARRIVED: time.monotonic() - 30.0}
        write = _later(0.2)
        in_time = await ack_budget.within_budget(write, context)
        return in_time, await write  # shielded: the answer did not cancel the write

    assert asyncio.run(scenario()) == (False, "written")


def test_the_budget_left_is_what_arrival_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ack_budget, "ACK_BUDGET_S", 30.0)
    assert ack_budget.budget_left({ack_budget._ARRIVED: time.monotonic() - 10.0}) <= 20.0
    assert ack_budget.budget_left({ack_budget._ARRIVED: time.monotonic() - 31.0}) == 0.0
    assert ack_budget.budget_left({}) == 30.0  # no stamp: the whole budget
    assert ack_budget.budget_left(None) is None  # an event, answered already: no limit


def test_a_write_within_the_budget_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ack_budget, "ACK_BUDGET_S", 30.0)

    async def scenario() -> bool:
        return await ack_budget.within_budget(_later(0.05), {ack_budget._ARRIVED:
                                                            time.monotonic()})

    assert asyncio.run(scenario()) is True


def test_without_a_context_the_write_is_waited_for_however_long(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ack_budget, "ACK_BUDGET_S", 0.0)

    async def scenario() -> bool:
        return await ack_budget.within_budget(_later(0.05), None)

    assert asyncio.run(scenario()) is True


def test_a_failed_write_within_the_budget_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fails() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(ack_budget.within_budget(fails(), {}))
