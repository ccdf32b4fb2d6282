"""Stuck sends are visible and retryable: the outbox in the API, the CLI and /metrics, and an
approved email that is not on its way told on the card and to the people who hold it (parked
jobs in general: tests/service/test_parked_jobs.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from store.tables import AuditEntry
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
        # It fails again and again: once the retries are a minute or more apart, the card's
        # next try is the new one (not redrawn for each retry seconds apart).
        updates, retries = len(fake_slack.calls("chat.update")), 0
        while _next_try(text) == first_try:
            clock.advance(minutes=5)
            worker.run_until_idle()
            retries += 1
            assert retries < 12, "the card's next try was never redrawn"
            view = client.get(approval_url).json()
            text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
        assert _next_try(text) == int(_at(view["next_attempt_at"]).timestamp()) > first_try
        assert len(fake_slack.calls("chat.update")) - updates < retries

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


def test_a_refused_recipients_address_stays_out_of_the_published_report(
        client, worker, rt, clock, smtp_sink) -> None:
    """The mail server quotes the address it refuses; the outbox row keeps its words (erasure
    reaches it), the report, a file that outlives an erasure, does not keep the address."""
    import json

    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html, render_kpi_markdown
    from store.tables import OutboxMessage

    card = _card_for(client, worker, clock, 0)
    address = card["draft"]["to"]
    smtp_sink.refuse_recipients_next("550 5.1.1 <{address}>: Recipient address rejected")
    decide(client, card["approval_id"], action="approve", actor=card["assignee"])
    worker.run_until_idle()
    with rt.db.read() as session:
        detail = session.scalar(select(OutboxMessage.status_detail))
    assert detail == ("the mail server refused it: recipient refused: "
                      f"550 5.1.1 <{address}>: Recipient address rejected")

    run = build_kpi_report(rt, days=30)
    [row] = run["stuck_sends"]
    assert row["status"] == "failed"
    assert row["detail"] == ("the mail server refused it: recipient refused: "
                             "550 5.1.1 <‹email›>: Recipient address rejected")
    for published in (json.dumps(run), render_kpi_html(run), render_kpi_markdown(run)):
        assert address not in published
