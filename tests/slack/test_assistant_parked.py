"""The assistant's ask job when things go wrong, in Slack with the real worker and a frozen clock:

- it crashes after the answer was made but before it was handed to the post job: the retry
  gets the same answer back (`ask(message_key=...)`), so the rep sees one answer and the store
  holds one reply with one set of proposals;
- `ask` keeps failing: it is retried, then parked when its retry budget is spent, and the rep
  gets one short apology naming the parked job, with the "thinking" status cleared."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from evals.assistant_seed import seed_assistant_store
from service import assistant
from service.jobs import list_jobs
from slack_app.assistant import jobs as assistant_jobs
from store.tables import AssistantProposal, AssistantReply
from tests.fake_slack import wait_until
from tests.slack.assistant_fakes import DM, THREAD, answer, dm_event

ASK = assistant_jobs.ASK_JOB


def _count(rt: Any, table: Any) -> int:
    with rt.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _statuses(fake_slack: Any) -> list[str]:
    return [c.params.get("status") for c in fake_slack.calls("assistant.threads.setStatus")]


def test_a_crash_between_the_answer_and_its_post_posts_one_answer(  # type: ignore[no-untyped-def]
        rt, worker, slack, fake_slack, clock, monkeypatch) -> None:
    seed_assistant_store(rt, worker.run_until_idle)
    real_queue = assistant_jobs.queue_job
    crashes: list[str] = []

    def crash_once(rt_: Any, kind: str, payload: dict[str, Any], **kwargs: Any) -> bool:
        if kind == assistant_jobs.REPLY_JOB and not crashes:
            crashes.append(payload["reply"]["reply_id"])
            raise RuntimeError("worker died before handing the answer on")
        return real_queue(rt_, kind, payload, **kwargs)

    monkeypatch.setattr(assistant_jobs, "queue_job", crash_once)
    asks: list[str] = []
    real_ask = assistant.ask

    def counting_ask(*args: Any, **kwargs: Any) -> Any:
        asks.append(kwargs.get("message_key") or "")
        return real_ask(*args, **kwargs)

    monkeypatch.setattr(assistant, "ask", counting_ask)
    event = dm_event(slack, "snooze Initech until Monday")
    key = f"{DM}:{event['ts']}"  # the message (not its thread): each message is one ask
    assert slack.event(event).status_code == 200
    wait_until(lambda: list_jobs(rt.db, status="retrying", kind=ASK))
    clock.advance(seconds=10)  # past the first backoff (at most 2 s)
    rt.notify_work()
    message = answer(fake_slack)
    worker.run_until_idle()

    assert asks == [key, key]
    assert len(fake_slack.calls("chat.startStream")) == 1
    assert "Initech" in message["text"]
    assert _count(rt, AssistantReply) == 1 and _count(rt, AssistantProposal) == 1
    with rt.db.read() as session:
        [row] = session.scalars(select(AssistantReply)).all()
        assert row.id == crashes[0] and row.message_key == key
    assert list_jobs(rt.db, kind=ASK) == []


def test_a_failing_ask_is_retried_then_parked_with_one_apology(  # type: ignore[no-untyped-def]
        rt, worker, slack, fake_slack, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    tries: list[str] = []

    def broken(rt_: Any, member: Any, conversation_key: str, text: str,
               message_key: str | None = None) -> Any:
        tries.append(text)
        raise RuntimeError("database is locked")

    monkeypatch.setattr(assistant, "ask", broken)
    assert slack.event(dm_event(slack, "what's on my plate?")).status_code == 200
    wait_until(lambda: list_jobs(rt.db, status="retrying", kind=ASK))
    clock.advance(seconds=10)
    rt.notify_work()
    wait_until(lambda: len(tries) >= 2)
    worker.run_until_idle()
    assert list_jobs(rt.db, status="retrying", kind=ASK)  # retried, not parked yet
    assert fake_slack.calls("chat.postMessage") == [] and "" not in _statuses(fake_slack)

    hours = float(rt.settings.slack_retry_hours)
    clock.advance(hours=hours + 1)  # the retry budget is spent
    rt.notify_work()
    wait_until(lambda: list_jobs(rt.db, status="failed", kind=ASK))
    [parked] = list_jobs(rt.db, status="failed", kind=ASK)
    wait_until(lambda: "" in _statuses(fake_slack))
    worker.run_until_idle()

    [apology] = fake_slack.calls("chat.postMessage")
    assert apology.params["channel"] == DM and apology.params["thread_ts"] == THREAD
    assert f"job {parked['job_id']}" in apology.params["text"]
    assert "couldn't answer that just now" in apology.params["text"]
    assert "locked" not in apology.params["text"]  # the error is for operators, not the rep
    assert _statuses(fake_slack)[-1] == "" and _statuses(fake_slack).count("") == 1

    clock.advance(hours=hours + 1)  # nothing more happens to a parked ask
    rt.notify_work()
    worker.run_until_idle()
    assert len(fake_slack.calls("chat.postMessage")) == 1 and len(tries) >= 3
    assert [j["job_id"] for j in list_jobs(rt.db, status="failed")] == [parked["job_id"]]
