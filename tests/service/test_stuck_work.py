"""Stuck work is visible and retryable: job time budgets, parked jobs in the API, the CLI and
/metrics, and a failed email told on the card and to the people who hold it."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from service import jobs
from store.tables import AuditEntry, Job
from tests.fake_slack import all_text, card_message
from tests.flow import decide, pending_card


def _next_try(card_text: str) -> int:
    """The Unix time of the card's "next try <!date^…>"."""
    match = re.search(r"next try <!date\^(\d+)\^", card_text)
    assert match, "the card shows no next try"
    return int(match.group(1))


def _redraw_cards(rt: Any, worker: Any) -> None:
    """Run the queued card updates alone (nothing else the worker has queued)."""
    from service.worker import Worker

    cards_only = Worker(rt, threads=1, handlers={
        "slack_update_card": worker.handlers["slack_update_card"]})
    cards_only.run_until_idle()
    cards_only.stop()
    rt.wake_worker = worker.wake_event.set


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@pytest.fixture
def settings(slack_settings: Settings) -> Settings:
    """The Slack surface on (tests/conftest.py: the fake Web API)."""
    return slack_settings


def test_backoff_doubles_with_jitter_and_is_capped_at_fifteen_minutes() -> None:
    rng = random.Random(7)
    delays = [jobs.backoff(n, rng=rng) for n in range(1, 20)]
    assert all(d <= timedelta(minutes=15) for d in delays)
    assert delays[-1] >= timedelta(minutes=7.5)  # half fixed, half random at the cap
    assert jobs.backoff(3, rng=rng) < jobs.backoff(8, rng=rng)
    # Jitter: the same attempt does not always wait the same time.
    assert len({jobs.backoff(10, rng=rng) for _ in range(5)}) > 1


def _always_failing_worker(rt: Any, calls: list[int], *, fail: bool = True) -> Any:
    from service.worker import Worker

    def flaky(_: Any, payload: dict[str, Any]) -> None:
        calls.append(payload["n"])
        if fail and not payload.get("fixed"):
            raise ConnectionError("the marketing system is down")

    return Worker(rt, threads=1, handlers={"process_lead": flaky})


def _failing_until_parked(client: Any, rt: Any, clock: Any, worker: Any, *,
                          step: timedelta) -> timedelta:
    """Queue one failing `process_lead` job and run the worker every `step` of the clock until
    the job is parked; how long that took."""
    with rt.db.session() as session:
        jobs.enqueue(session, "process_lead", {"n": 1}, now=clock.now())
    started = clock.now()
    while not client.get("/v1/jobs", params={"status": "failed"}).json():
        worker.run_until_idle()
        clock.advance(seconds=step.total_seconds())
        assert clock.now() - started < timedelta(hours=2), "never parked"
    return clock.now() - started


def test_a_failing_job_retries_for_its_time_budget_then_is_parked_and_retryable(
        client, rt, clock) -> None:
    calls: list[int] = []
    worker = _always_failing_worker(rt, calls)
    try:
        took = _failing_until_parked(client, rt, clock, worker, step=timedelta(minutes=1))
        # Default budget for our own work: 1 hour of failing, then parked (not 8 attempts).
        assert timedelta(hours=1) <= took <= timedelta(hours=1, minutes=16)
        assert len(calls) > 8
        [parked] = client.get("/v1/jobs", params={"status": "failed"}).json()
        assert parked["kind"] == "process_lead" and "marketing system is down" in \
            parked["last_error"]
        assert parked["failing_since"] is not None and parked["next_attempt_at"] is None
        metrics = client.get("/metrics").text
        assert 'hitl_jobs_parked{kind="process_lead"} 1.0' in metrics
        assert 'hitl_jobs_failed_total{kind="process_lead"} 1.0' in metrics

        # Parked work stays put until a person retries it.
        clock.advance(hours=5)
        before = len(calls)
        worker.run_until_idle()
        assert len(calls) == before

        with rt.db.session() as session:
            session.execute(Job.__table__.update().values(payload={"n": 1, "fixed": True}))
        retried = client.post(f"/v1/jobs/{parked['job_id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] == "queued"
        worker.run_until_idle()
        assert len(calls) == before + 1
        with rt.db.session() as session:
            assert session.scalars(select(Job)).all() == []
        assert client.post("/v1/jobs/999999/retry").status_code == 404
    finally:
        worker.stop()


def test_a_failure_handler_that_fails_does_not_keep_the_job_from_retrying_or_parking(
        client, rt, clock, monkeypatch) -> None:
    """Telling people runs in a savepoint: when it raises, the job is still rescheduled and
    then parked (and listed), not left leased with no record of its failure."""
    from service import job_watch

    told: list[bool] = []

    def broken_tell(_rt: Any, session: Any, job_id: int, payload: dict[str, Any],
                    parked: bool) -> None:
        told.append(parked)
        session.execute(Job.__table__.delete())  # undone with the savepoint
        raise RuntimeError("Slack is down")

    monkeypatch.setitem(job_watch.FAILING, "process_lead", broken_tell)
    calls: list[int] = []
    worker = _always_failing_worker(rt, calls)
    try:
        _failing_until_parked(client, rt, clock, worker, step=timedelta(minutes=5))
        # told at every failure: each retry, then the parking
        assert len(calls) > 2 and told == [False] * (len(calls) - 1) + [True]
    finally:
        worker.stop()


def test_a_retry_whose_watcher_fails_still_stands_and_is_audited(
        client, rt, clock, monkeypatch) -> None:
    """Retrying is audited with who asked; a watcher that raises (Slack down) is logged and
    undone alone: the job is due again and the audit entry stays."""
    from service import job_watch

    def broken_watcher(_rt: Any, session: Any, job_id: int, payload: dict[str, Any]) -> None:
        session.execute(Job.__table__.delete())  # undone with the savepoint
        raise RuntimeError("Slack is down")

    monkeypatch.setitem(job_watch.RETRIED, "process_lead", broken_watcher)
    calls: list[int] = []
    worker = _always_failing_worker(rt, calls)
    try:
        _failing_until_parked(client, rt, clock, worker, step=timedelta(minutes=5))
        [parked] = client.get("/v1/jobs", params={"status": "failed"}).json()
        retried = client.post(f"/v1/jobs/{parked['job_id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] == "queued"
        assert client.get("/v1/jobs", params={"status": "failed"}).json() == []
        with rt.db.read() as session:
            [entry] = session.scalars(select(AuditEntry).where(
                AuditEntry.action == "job_retry_requested")).all()
            assert session.scalars(select(Job)).all() != []
        assert entry.subject_id == str(parked["job_id"]) and entry.detail["kind"] == "process_lead"
    finally:
        worker.stop()


def test_status_filters_are_validated(client) -> None:
    assert client.get("/v1/jobs", params={"status": "stuck"}).status_code == 422
    assert client.get("/v1/outbox", params={"status": "lost"}).status_code == 422
    # Ids and limits out of range are named, not a 500 from the database driver.
    for bad in ("360484107453762895872", "0", "-1", "x"):
        response = client.post(f"/v1/jobs/{bad}/retry")
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "job_id"
    assert client.get("/v1/outbox", params={"limit": 10**6}).status_code == 422
    assert client.post("/v1/outbox/out_nope/retry").status_code == 404
    # Every stored approval status is a valid filter (reassigned used to be a 422).
    for status in ("pending", "superseded", "reassigned"):
        assert client.get("/v1/approvals", params={"status": status}).status_code == 200


def test_outbox_metrics_show_depth_and_the_oldest_retry(client, worker, rt, clock,
                                                        smtp_sink) -> None:
    card = pending_card(client, worker)
    smtp_sink.refuse_next(*["451 4.3.0 try again later"] * 3)
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    clock.advance(minutes=10)
    text = client.get("/metrics").text
    assert 'hitl_outbox_messages{status="retrying"} 1.0' in text
    assert 'hitl_outbox_messages{status="sent"} 0.0' in text
    assert "hitl_outbox_oldest_retrying_seconds 600.0" in text


def test_the_cli_lists_and_retries_stuck_sends(client, worker, rt, clock, smtp_sink, settings,
                                               monkeypatch) -> None:
    from typer.testing import CliRunner

    from hitl.cli import app

    card = pending_card(client, worker)
    smtp_sink.refuse_next("554 5.7.1 relay denied")
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    monkeypatch.setenv("HITL_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    listed = runner.invoke(app, ["outbox", "list", "--status", "failed"])
    assert listed.exit_code == 0, listed.output
    [outbox_id] = [w for w in listed.output.split() if w.startswith("out_")]
    assert "554" in listed.output and "relay denied" in listed.output
    retried = runner.invoke(app, ["outbox", "retry", outbox_id])
    assert retried.exit_code == 0 and "tried again now" in retried.output
    # The CLI runs on the real clock; the test's worker catches up with it.
    clock.advance(seconds=(datetime.now(UTC) - clock.now()).total_seconds() + 60)
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1
    again = runner.invoke(app, ["outbox", "retry", outbox_id])
    assert again.exit_code == 1 and "already sent" in again.output
    bad = runner.invoke(app, ["outbox", "list", "--status", "lost"])
    assert bad.exit_code == 2
    assert runner.invoke(app, ["jobs", "list"]).output.strip() == "no failed jobs"


@pytest.mark.usefixtures("fake_slack")
class TestSlackSendStatus:
    def test_a_retrying_send_shows_on_the_card(self, client, worker, rt, clock, fake_slack,
                                               smtp_sink) -> None:
        card = pending_card(client, worker)
        smtp_sink.refuse_next("451 4.3.0 try again later")
        decide(client, card["approval_id"], action="approve", actor="U0REP0001")
        worker.run_until_idle()
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert "*Approved* by <@U0REP0001>" in text
        assert "Not sent yet: waiting for the mail server since <!date^" in text
        assert "next try <!date^" in text
        clock.advance(minutes=5)
        worker.run_until_idle()
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert ":email: Sent <!date^" in text and "waiting" not in text

    def test_a_failure_for_good_is_on_the_card_and_dmed_to_owner_and_manager(
            self, client, worker, rt, fake_slack, smtp_sink) -> None:
        card = pending_card(client, worker)
        smtp_sink.refuse_next("550 5.1.1 no such user")
        decide(client, card["approval_id"], action="approve", actor="U0REP0001")
        worker.run_until_idle()
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert ":x: Not sent, gave up:" in text and "550" in text
        assert "hitl outbox retry out_" in text
        dms = [c for c in fake_slack.calls("chat.postMessage")
               if "was not sent" in (c.params.get("text") or "")]
        assert {c.params["channel"] for c in dms} == {"D0REP0001", "D0MGR0001"}
        assert all("550" in c.params["text"] for c in dms)

    def test_an_approval_whose_send_cannot_be_prepared_says_so_and_is_retryable(
            self, client, worker, rt, clock, fake_slack, smtp_sink, monkeypatch) -> None:
        """The decision's `resume_handoff` job takes an approved email to the outbox. While it
        fails the approval reads retrying, once parked failed, with the job to retry on the
        card and in a DM, never "queued" while nothing will send it."""
        from service import handoffs

        card = pending_card(client, worker)
        approval_url = f"/v1/approvals/{card['approval_id']}"
        resume = handoffs.resume_handoff

        def broken(*_: Any) -> None:
            raise RuntimeError("checkpoint unreadable\n[parameters: ('ada@acme.io',)]")

        monkeypatch.setattr(handoffs, "resume_handoff", broken)
        decide(client, card["approval_id"], action="approve", actor="U0REP0001")
        view = client.get(approval_url).json()
        assert (view["send_status"], view["send_detail"]) == ("queued", "queued for sending")
        # The decision's own card update first, alone: the card says queued.
        _redraw_cards(rt, worker)
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert "queued for sending" in text

        worker.run_until_idle()  # fails, and updates the card as it starts failing
        view = client.get(approval_url).json()
        assert view["send_status"] == "retrying" and view["next_attempt_at"] is not None
        assert "preparing the send has failed since" in view["send_detail"]
        assert "checkpoint unreadable" in view["send_detail"]
        assert "ada@acme.io" not in view["send_detail"]  # the error's first line only
        from slack_app.blocks.card import send_status_text
        from slack_app.cards import load_approval

        line = send_status_text(load_approval(rt, card["approval_id"]))
        assert "Not sent yet: preparing the send has failed since" in line
        assert "mail server" not in line and "next try <!date^" in line
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert "Not sent yet: preparing the send has failed since" in text
        first_try = _next_try(text)
        assert first_try == int(_at(view["next_attempt_at"]).timestamp())
        clock.advance(minutes=5)
        worker.run_until_idle()  # fails again: the card's next try is the new one
        view = client.get(approval_url).json()
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert _next_try(text) == int(_at(view["next_attempt_at"]).timestamp()) > first_try

        started = clock.now()
        while client.get(approval_url).json()["send_status"] != "failed":
            clock.advance(minutes=5)
            worker.run_until_idle()
            assert clock.now() - started < timedelta(hours=2), "never parked"
        [parked] = client.get("/v1/jobs", params={"status": "failed"}).json()
        assert parked["kind"] == "resume_handoff"
        view = client.get(approval_url).json()
        assert f"retry job {parked['job_id']}" in view["send_detail"]
        retry = f"hitl jobs retry {parked['job_id']}"
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert ":x: Not sent:" in text and retry in text and "queued" not in text
        dms = [c for c in fake_slack.calls("chat.postMessage")
               if "was not sent" in (c.params.get("text") or "")]
        assert {c.params["channel"] for c in dms} == {"D0REP0001", "D0MGR0001"}
        assert all(retry in c.params["text"] for c in dms)

        monkeypatch.setattr(handoffs, "resume_handoff", resume)  # fixed
        assert client.post(f"/v1/jobs/{parked['job_id']}/retry").status_code == 200
        # The retry alone redraws the card: queued again, no job to retry.
        _redraw_cards(rt, worker)
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert "queued for sending" in text and retry not in text and "Not sent" not in text
        with rt.db.read() as session:
            [entry] = session.scalars(select(AuditEntry).where(
                AuditEntry.action == "job_retry_requested")).all()
        assert entry.subject_id == str(parked["job_id"]) and entry.actor
        worker.run_until_idle()
        assert len(smtp_sink.messages) == 1
        assert client.get(approval_url).json()["send_status"] == "sent"
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert ":email: Sent <!date^" in text and "Not sent" not in text

    def test_a_send_blocked_after_approval_says_why(self, client, worker, rt, clock,
                                                    fake_slack, smtp_sink) -> None:
        from tests.conftest import event

        card = pending_card(client, worker)
        smtp_sink.refuse_next("451 4.3.0 try again later")
        decide(client, card["approval_id"], action="approve", actor="U0REP0001")
        worker.run_until_idle()
        client.post("/v1/events", json=event("unsub-1", "unsubscribe", at=clock.now(),
                                             lead={"email": "ada@acme.io"}))
        clock.advance(minutes=5)
        worker.run_until_idle()
        assert smtp_sink.messages == []
        view = client.get(f"/v1/approvals/{card['approval_id']}").json()
        assert view["send_status"] == "blocked" and "unsubscribed" in view["send_detail"]
        text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert ":no_entry: Not sent:" in text and "unsubscribed" in text


def _kpi_lead(i: int) -> dict[str, Any]:
    return {"email": f"stuck{i}@company{i}.com", "first_name": f"Kim{i}", "last_name": "Lane",
            "company": f"Company{i}", "title": "VP Operations", "domain": f"company{i}.com",
            "country": "US", "employees": 800, "industry": "Software"}


def _card_for(client: Any, worker: Any, clock: Any, i: int) -> dict[str, Any]:
    from tests.conftest import hand_raise
    from tests.flow import ingest

    ingest(client, hand_raise(prefix=f"s{i}", lead=_kpi_lead(i), at=clock.now()))
    worker.run_until_idle()
    [card] = [c for c in client.get("/v1/approvals").json()
              if c["draft"]["to"] == _kpi_lead(i)["email"]]
    return card


def test_the_report_shows_stuck_sends_its_shares_add_up_and_credit_the_decider(
        client, worker, rt, clock, smtp_sink) -> None:
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html, render_kpi_markdown

    sent = _card_for(client, worker, clock, 0)
    decide(client, sent["approval_id"], action="approve", actor=sent["assignee"])
    worker.run_until_idle()
    stuck = _card_for(client, worker, clock, 1)
    smtp_sink.refuse_next("451 4.3.0 try again later")  # its next try is in the (frozen) future
    decide(client, stuck["approval_id"], action="approve", actor=stuck["assignee"])
    worker.run_until_idle()
    rejected = _card_for(client, worker, clock, 2)
    decide(client, rejected["approval_id"], action="reject", actor=rejected["assignee"],
           reason_code="not_now")
    escalated = _card_for(client, worker, clock, 3)
    decide(client, escalated["approval_id"], action="escalate", actor=escalated["assignee"])
    worker.run_until_idle()
    [v2] = [c for c in client.get("/v1/approvals").json() if c["lead_id"] == escalated["lead_id"]]
    decide(client, v2["approval_id"], action="approve", actor="U0MGR0001")
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 2

    run = build_kpi_report(rt, days=30)
    o = run["overall"]
    assert o["decided"] == 4
    assert (o["approved"], o["send_pending"], o["rejected"]) == (2, 1, 1)
    shares = ("approve_as_is_rate", "edit_rate", "reject_rate", "send_pending_rate",
              "send_blocked_rate", "send_failed_rate")
    assert sum(o[k] for k in shares) == pytest.approx(1.0, abs=0.001)
    [row] = run["stuck_sends"]
    assert row["lead_id"] == stuck["lead_id"] and row["status"] == "retrying"
    assert "Approved but not sent: 1" in render_kpi_markdown(run)
    assert "did not go out" in render_kpi_html(run)
    reps = {r["key"]: r for r in run["breakdowns"]["rep"]}
    # The manager who approved the escalated draft is credited with it, not the first holder.
    assert reps["U0MGR0001"]["approved"] == 1
