"""In Slack: an approved proposal whose execution fails is not left looking done. The answer
says it is retrying, then (the retry budget spent) that it failed and how to retry it, then,
after `hitl jobs retry`, that it is done; the change happens once."""

from __future__ import annotations

from typing import Any

import pytest

from evals.assistant_seed import seed_assistant_store
from service import assistant_actions
from service.jobs import list_jobs, retry_now
from store.tables import Lead
from tests.fake_slack import all_text, buttons, wait_until
from tests.slack.assistant_fakes import DM, answer, click, dm_event


@pytest.fixture
def seeded(rt: Any, worker: Any) -> dict[str, str]:
    return seed_assistant_store(rt, worker.run_until_idle)


def _snoozed(rt: Any, lead_id: str) -> Any:
    with rt.db.read() as session:
        lead = session.get(Lead, lead_id)
        return lead.suppressed_until if lead is not None else None


def test_the_answer_follows_a_failing_execution_to_the_end(  # type: ignore[no-untyped-def]
        seeded, slack, fake_slack, rt, clock, monkeypatch) -> None:
    real = assistant_actions._ACTIONS["snooze"]
    state = {"broken": True, "done": 0}

    def flaky(rt_: Any, member: Any, lead_id: str, args: dict[str, Any]) -> str:
        if state["broken"]:
            raise RuntimeError("database is locked")
        state["done"] += 1
        return real(rt_, member, lead_id, args)

    monkeypatch.setitem(assistant_actions._ACTIONS, "snooze", flaky)
    slack.event(dm_event(slack, "snooze Initech until Monday"))
    message = answer(fake_slack)
    click(slack, message, "Approve", "U0REP0001")

    def reads(words: str) -> bool:
        shown = fake_slack.message(DM, message["ts"])
        return words in all_text(shown["blocks"])

    wait_until(lambda: reads("retried automatically"))
    shown = fake_slack.message(DM, message["ts"])
    assert "Approve" not in buttons(shown["blocks"])  # decided: the click is recorded
    assert "locked" not in all_text(shown["blocks"])  # no exception text for the rep

    clock.advance(hours=2)  # past the grace and the retry budget (HITL_JOB_RETRY_HOURS = 1)
    rt.notify_work()
    wait_until(lambda: list_jobs(rt.db, status="failed", kind="assistant_execute"))
    [job] = list_jobs(rt.db, status="failed", kind="assistant_execute")
    wait_until(lambda: reads(f"hitl jobs retry {job['job_id']}"))
    assert reads("could not be done") and _snoozed(rt, seeded["ian"]) is None

    state["broken"] = False
    retry_now(rt.db, job["job_id"], now=rt.clock.now())
    rt.notify_work()
    wait_until(lambda: reads("Approved and done"))
    assert state["done"] == 1 and _snoozed(rt, seeded["ian"]) is not None
