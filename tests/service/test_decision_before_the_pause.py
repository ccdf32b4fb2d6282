"""A decision that arrives before the run that opened its approval has saved its pause.

A handoff's run is saved when it pauses (`agent.runs.DURABILITY`), while `open_approval`
commits the approval and its card job before that: a decision can be recorded in between, by
an API client that is quick, or after a kill -9 stopped the run before its first save (the
card was posted by then, and the rep clicked it). The decision's `resume_handoff` job waits for
the run to reach its pause, then resumes it: the email goes out, once. Before, the job found
no saved run, recorded the decision as applied, and the run that came back waited forever on
a decision already used up: the outbox row stayed queued, nothing parked, nobody told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from service import handoffs
from service.jobs import RetryLater
from store.tables import Decision, OutboxMessage
from tests.conftest import hand_raise
from tests.flow import decide, ingest


def _decision_id(rt: Any, approval_id: str) -> str:
    with rt.db.read() as session:
        return str(session.scalar(select(Decision.id).where(Decision.approval_id == approval_id)))


def _sent_once(rt: Any, smtp_sink: Any, approval_id: str) -> None:
    with rt.db.read() as session:
        [message] = session.scalars(select(OutboxMessage)).all()
        applied = session.scalar(select(Decision.applied_at)
                                 .where(Decision.approval_id == approval_id))
    assert message.status == "sent" and message.approval_id == approval_id
    assert applied is not None and len(smtp_sink.messages) == 1


def _after_the_first_open(monkeypatch: pytest.MonkeyPatch,
                          then: Callable[[str, str], None]) -> None:
    """`then(handoff_id, approval_id)` runs once, right after the first `open_approval` has
    committed the approval and its card job: before the run saves its pause."""
    opened, done = handoffs.StoreHandoffPort.open_approval, []

    def open_approval(self: Any, handoff_id: str, version: int, **kw: Any) -> Any:
        found = opened(self, handoff_id, version, **kw)
        if not done:
            done.append(True)
            then(handoff_id, found[0])
        return found

    monkeypatch.setattr(handoffs.StoreHandoffPort, "open_approval", open_approval)


def _retries(clock: Any, worker: Any) -> None:
    for _ in range(10):  # the jobs' retries (and a crashed run's), minutes apart at most
        clock.advance(minutes=1)
        worker.run_until_idle()


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_decision_recorded_while_the_run_is_on_its_way_to_its_pause(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    decided: list[str] = []
    resumed_early: list[str] = []

    def decide_at_once(handoff_id: str, approval_id: str) -> None:  # the quickest client
        decided.append(approval_id)
        assert decide(client, approval_id, action="approve",
                      actor="U0REP0001").status_code == 200
        # The decision's job, run at this moment (by another thread, in production).
        try:
            handoffs.resume_handoff(rt, handoff_id, _decision_id(rt, approval_id))
            resumed_early.append("recorded as applied")
        except RetryLater:
            resumed_early.append("waits for the pause")

    _after_the_first_open(monkeypatch, decide_at_once)
    ingest(client, hand_raise())
    worker.run_until_idle()
    _retries(clock, worker)
    assert resumed_early == ["waits for the pause"]
    _sent_once(rt, smtp_sink, decided[0])


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_card_decided_after_a_crash_before_the_runs_first_save(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    crashed: list[str] = []

    def die(handoff_id: str, approval_id: str) -> None:  # committed: the approval, its card job
        crashed.append(handoff_id)
        raise RuntimeError("killed here")

    _after_the_first_open(monkeypatch, die)
    ingest(client, hand_raise())
    worker.run_until_idle()
    rt.checkpointer.delete_thread(crashed[0])  # a kill -9 leaves no save of the run at all
    [card] = client.get("/v1/approvals", params={"status": "pending"}).json()
    assert decide(client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200
    worker.run_until_idle()  # the decision's job first: the run has not come back yet
    _retries(clock, worker)  # the run comes back to its pause; the decision then resumes it
    _sent_once(rt, smtp_sink, card["approval_id"])
    assert smtp_sink.messages[0].subject == card["draft"]["subject"]  # what the rep approved
