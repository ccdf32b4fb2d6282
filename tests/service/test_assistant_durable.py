"""An approved proposal is executed even when executing it fails at first: the click queues a
job (with the decision, in one transaction), the job is retried with backoff, parked where
`GET /v1/jobs?status=failed` shows it when it keeps failing, and executed exactly once after a
retry by hand. The rep's answer is told each time (the surface's job named in `notify`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service import assistant_actions, turn_lease
from service.assistant import ask, decide_proposal
from service.assistant_execution import EXECUTE_JOB, execute_job
from service.errors import Conflict
from service.jobs import list_jobs
from store.tables import AssistantProposal, Lead

OUTCOME = "test_assistant_outcome"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, and PostgreSQL where it runs (skipped otherwise; CI runs it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hitl.db'}"
    return str(request.getfixturevalue("postgres_url"))


class FlakySnooze:
    """The snooze action, failing (as a store outage would) while `broken` is set."""

    def __init__(self) -> None:
        self.broken = True
        self.attempts = 0
        self.done = 0
        self._real = assistant_actions._ACTIONS["snooze"]

    def __call__(self, rt: Any, member: Any, lead_id: str, args: dict[str, Any]) -> str:
        self.attempts += 1
        if self.broken:
            raise RuntimeError("database is locked")
        self.done += 1
        return self._real(rt, member, lead_id, args)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> FlakySnooze:
    action = FlakySnooze()
    monkeypatch.setitem(assistant_actions._ACTIONS, "snooze", action)
    return action


def _proposal(rt: Any, proposal_id: str) -> tuple[str, Any]:
    with rt.db.read() as session:
        row = session.get(AssistantProposal, proposal_id)
        assert row is not None
        return row.status, row.executed_at


def _snoozed(rt: Any, lead_id: str) -> Any:
    with rt.db.read() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        return lead.suppressed_until


def test_a_failed_execution_is_retried_parked_and_done_once_by_hand(
        rt, seeded, riley, worker, clock, client, flaky: FlakySnooze) -> None:
    lead_id = seeded["ian"]
    told: list[dict[str, Any]] = []
    worker.register(OUTCOME, lambda _rt, payload: told.append(payload))
    [proposal] = ask(rt, riley, "D1:1", "snooze Initech until Monday").proposals

    # The click is recorded (first wins) and the first try fails: the rep is told it retries.
    reply = decide_proposal(rt, riley, proposal.proposal_id, "approve",
                            notify={"job": OUTCOME, "channel": "D1", "ts": "1.2"})
    assert reply.proposals[0].status == "approved"
    assert "retried automatically" in reply.text and "locked" not in reply.text
    assert flaky.attempts == 1 and _snoozed(rt, lead_id) is None
    with pytest.raises(Conflict):  # the click stays recorded: no second decision
        decide_proposal(rt, riley, proposal.proposal_id, "approve")
    [job] = list_jobs(rt.db, status="retrying", kind=EXECUTE_JOB)
    assert job["payload"]["proposal_id"] == proposal.proposal_id
    assert "database is locked" in job["last_error"]

    worker.run_until_idle()  # not due before its grace: the first try had just failed
    assert flaky.attempts == 1
    clock.advance(minutes=3)
    worker.run_until_idle()
    assert flaky.attempts == 2
    assert told[-1]["channel"] == "D1" and told[-1]["ts"] == "1.2"
    assert told[-1]["reply"]["proposals"][0]["status"] == "approved"
    assert "retried automatically" in told[-1]["reply"]["text"]

    # Still failing when the retry budget (HITL_JOB_RETRY_HOURS, 1 h) is spent: parked.
    clock.advance(hours=2)
    worker.run_until_idle()
    assert flaky.attempts == 3
    assert told[-1]["reply"]["proposals"][0]["status"] == "failed"
    failed = client.get("/v1/jobs", params={"status": "failed"})
    assert failed.status_code == 200
    [parked] = [j for j in failed.json() if j["kind"] == EXECUTE_JOB]
    assert parked["payload"]["proposal_id"] == proposal.proposal_id
    assert f"hitl jobs retry {parked['job_id']}" in told[-1]["reply"]["text"]
    assert _proposal(rt, proposal.proposal_id) == ("approved", None)
    assert _snoozed(rt, lead_id) is None

    # Fixed; retried by hand: executed once, the rep's answer says done.
    flaky.broken = False
    assert client.post(f"/v1/jobs/{parked['job_id']}/retry").status_code == 200
    worker.run_until_idle()
    assert flaky.done == 1 and _snoozed(rt, lead_id) is not None
    status, executed_at = _proposal(rt, proposal.proposal_id)
    assert status == "executed" and executed_at is not None
    assert told[-1]["reply"]["proposals"][0]["status"] == "executed"
    assert list_jobs(rt.db, kind=EXECUTE_JOB) == []

    # The job delivered twice (a worker died after the change): nothing runs again.
    execute_job(rt, {"proposal_id": proposal.proposal_id, "lead_id": lead_id, "notify": None})
    worker.run_until_idle()
    assert flaky.attempts == 4 and flaky.done == 1


def test_a_successful_first_try_leaves_no_job(rt, seeded, riley, worker, clock,
                                             flaky: FlakySnooze) -> None:
    flaky.broken = False
    [proposal] = ask(rt, riley, "D1:1", "snooze Initech until Monday").proposals
    reply = decide_proposal(rt, riley, proposal.proposal_id, "approve")
    assert reply.proposals[0].status == "executed"
    assert list_jobs(rt.db, kind=EXECUTE_JOB) == []
    clock.advance(hours=1)
    worker.run_until_idle()
    assert flaky.attempts == 1 and flaky.done == 1


def test_a_crash_before_the_first_try_is_covered_by_the_job(rt, seeded, riley, worker, clock,
                                                            flaky: FlakySnooze,
                                                            monkeypatch) -> None:
    """The process dies right after the click is recorded: its job executes the proposal."""
    import service.assistant_runs as runs

    flaky.broken = False
    [proposal] = ask(rt, riley, "D1:1", "snooze Initech until Monday").proposals

    def crash(*_: Any) -> str:
        raise SystemExit("killed")

    monkeypatch.setattr(runs, "execute_now", crash)
    with pytest.raises(SystemExit):
        decide_proposal(rt, riley, proposal.proposal_id, "approve")
    assert _proposal(rt, proposal.proposal_id) == ("approved", None)
    clock.advance(minutes=3)
    worker.run_until_idle()
    assert flaky.done == 1
    assert _proposal(rt, proposal.proposal_id)[0] == "executed"


def test_two_runs_at_once_execute_once(rt, seeded, riley, worker, flaky: FlakySnooze,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The job runs while the request's try is still executing (a retry by hand, a second
    worker): the second waits for the first's lease, then finds the proposal executed."""
    import threading

    flaky.broken = False
    [proposal] = ask(rt, riley, "D1:1", "snooze Initech until Monday").proposals
    inside, release = threading.Event(), threading.Event()
    # Set when the second run either waits for the lease or reaches the action itself.
    second_moved = threading.Event()
    real, real_sleep, entered = flaky.__call__, turn_lease.time.sleep, []

    def slow(rt_: Any, member: Any, lead_id: str, args: dict[str, Any]) -> str:
        entered.append(lead_id)
        if len(entered) > 1:
            second_moved.set()
        inside.set()
        assert release.wait(30)
        return real(rt_, member, lead_id, args)

    def sleep(seconds: float) -> None:
        second_moved.set()
        real_sleep(seconds)

    monkeypatch.setitem(assistant_actions._ACTIONS, "snooze", slow)
    monkeypatch.setattr(turn_lease.time, "sleep", sleep)
    first = threading.Thread(target=decide_proposal,
                             args=(rt, riley, proposal.proposal_id, "approve"), daemon=True)
    first.start()
    assert inside.wait(30)
    second = threading.Thread(target=execute_job, args=(rt, {
        "proposal_id": proposal.proposal_id, "lead_id": None, "notify": None}), daemon=True)
    second.start()
    assert second_moved.wait(30)
    release.set()
    first.join(30)
    second.join(30)
    assert flaky.done == 1 and len(entered) == 1
    assert _proposal(rt, proposal.proposal_id)[0] == "executed"
