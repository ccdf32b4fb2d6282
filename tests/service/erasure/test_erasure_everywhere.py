"""Erasure reaches everything (issue 13, point 4), checked the way an auditor would.

A person goes the whole way first: a lead with a reply, an approval card in Slack, a question
answered in its thread, an SLA reminder and escalation (manager DM, a second card with its
history), an edit approved in Slack (so a learned style example is stored in Chroma), and a
support conversation under the same email with a warm transfer, its transcript, a claim and a
relayed message. Then `DELETE /v1/leads/{id}` (or `DELETE /v1/customers/{email}` for someone
known only to support), the redaction jobs run, and every personal string is searched for in
the SQLite files (database, -wal, -shm), every file of the Chroma folder (bytes, UTF-8 and
UTF-16), every row of every table, and the fake Slack's messages as they finally read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from store.tables import Job, SlackMessageLog
from tests.conftest import T0, event
from tests.fake_slack import FakeSlack, SlackSide
from tests.flow import ingest
from tests.service.erasure.erasure_helpers import (
    CUSTOMER,
    CUSTOMER_NEEDLES,
    CUSTOMER_TEXT,
    NEEDLES,
    PERSON,
    PHONE,
    SUPPORT_TEXT,
    _files_with,
    _lead_story,
    _rows_with,
    _slack_texts_with,
    _support_story,
    say,
)

# -- what an auditor searches (the rest: erasure_helpers.py) ----------------------------------

def _logged(rt: Any) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    with rt.db.session() as session:
        return {(r.channel, r.ts): (r.lead_id, r.conversation_id)
                for r in session.scalars(select(SlackMessageLog))}


def _threads_left(rt: Any, threads: list[str]) -> int:
    conn = rt.checkpointer.conn
    marks = ",".join("?" * len(threads))
    return sum(conn.execute(f"SELECT COUNT(*) FROM {table} WHERE thread_id IN ({marks})",
                            threads).fetchone()[0] for table in ("checkpoints", "writes"))


# -- the tests --------------------------------------------------------------------------------

def test_deleting_a_lead_leaves_nothing_in_store_checkpoints_chroma_or_slack(
        app: Any, worker: Any, app_rt: Any, fake_slack: FakeSlack, slack: SlackSide,
        smtp_sink: Any, clock: Any, tmp_path: Path) -> None:
    rt = app_rt
    lead_id, edited, handoffs = _lead_story(app, worker, rt, fake_slack, slack, clock)
    assert len(smtp_sink.messages) == 1
    assert rt.style_collection.get(where={"lead_id": lead_id})["ids"] == [edited]
    transfer_id = _support_story(app, worker, rt, fake_slack, slack, clock,
                                 conversation="conv-zq", customer={
                                     "email": PERSON["email"],
                                     "name": "Zephyrine Quillfeather"}, first=SUPPORT_TEXT)

    # Every message the app posted is in the log, with whom it is about.
    posted = set(fake_slack.messages)
    logged = _logged(rt)
    assert posted == set(logged), posted ^ set(logged)
    assert all(lead or conversation for lead, conversation in logged.values())
    kinds = {c.params.get("text", "")[:30] for c in fake_slack.calls("chat.postMessage")}
    assert len(posted) >= 10, kinds  # cards, history, answer, reminder, DMs, transcript, relay
    before = (_files_with(tmp_path, NEEDLES), _rows_with(rt, NEEDLES),
              _slack_texts_with(fake_slack, NEEDLES))
    assert all(before) and set(before[2]) >= {"Zephyrine", "Erasuredrillcorp", PHONE}

    response = app.delete(f"/v1/leads/{lead_id}")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["lead_id"] == lead_id and report["erased"] is True
    assert report["events"] == 4 and report["handoffs"] == 1 and report["conversations"] == 1
    store = report["store"]
    assert store["leads"] == 1 and store["events"] == 4 and store["approvals"] == 2
    assert store["decisions"] >= 2 and store["outbox"] == 1 and store["audit_log"] > 0
    assert store["support_conversations"] == 1 and store["support_transfers"] == 1
    assert store["support_messages"] >= 4 and store["slack_cards"] == 2
    assert report["checkpoints"]["threads"] == 2  # the handoff's and support:conv-zq
    assert report["chroma"]["documents"]["approved-edits"] == 1
    assert report["chroma"]["compacted"] is True and report["chroma"]["status"] == "done"
    assert report["slack"] == {"messages": len(posted), "status": "queued",
                               "detail": report["slack"]["detail"]}

    worker.run_until_idle()  # the redaction jobs
    assert app.get(f"/v1/leads/{lead_id}").status_code == 404
    assert app.get("/v1/conversations/conv-zq").status_code == 404
    assert app.get(f"/v1/handoffs/{transfer_id}").status_code == 404
    assert _threads_left(rt, [*handoffs, "support:conv-zq"]) == 0
    assert rt.style_collection.get(ids=[edited])["ids"] == []
    assert _logged(rt) == {}
    with rt.db.session() as session:
        assert session.scalars(select(Job.kind)).all() == []  # nothing left queued or parked
    assert all("erased" in m["text"] for m in fake_slack.messages.values())

    after = (_files_with(tmp_path, NEEDLES), _rows_with(rt, NEEDLES),
             _slack_texts_with(fake_slack, NEEDLES))
    assert after == ({}, {}, {}), f"left after the erasure: {after} (before: {before})"


def test_deleting_a_support_only_customer_by_email(app: Any, worker: Any, app_rt: Any,
                                                   fake_slack: FakeSlack, slack: SlackSide,
                                                   clock: Any, tmp_path: Path) -> None:
    rt = app_rt
    transfer_id = _support_story(app, worker, rt, fake_slack, slack, clock,
                                 conversation="conv-qv", customer=CUSTOMER, first=CUSTOMER_TEXT)
    say(app, "How do I reset my password?", "conv-qv-2", CUSTOMER)  # a second conversation
    posted = set(fake_slack.messages)
    assert posted == set(_logged(rt))
    assert all(_files_with(tmp_path, CUSTOMER_NEEDLES).get(n) for n in ("Quorra", "Vantablack"))

    # The address as the customer typed it: case does not matter.
    response = app.delete("/v1/customers/Quorra.Vantablack@Support-Only-Drill.io")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["lead_id"] is None and report["conversations"] == 2
    assert report["store"]["support_conversations"] == 2
    assert report["store"]["support_transfers"] == 1 and "leads" not in report["store"]
    assert report["checkpoints"]["threads"] == 2
    assert report["chroma"]["status"] == "nothing_to_erase"
    assert report["slack"]["messages"] == len(posted) and report["slack"]["status"] == "queued"

    worker.run_until_idle()
    assert app.get(f"/v1/handoffs/{transfer_id}").status_code == 404
    assert _threads_left(rt, ["support:conv-qv", "support:conv-qv-2"]) == 0
    after = (_files_with(tmp_path, CUSTOMER_NEEDLES), _rows_with(rt, CUSTOMER_NEEDLES),
             _slack_texts_with(fake_slack, CUSTOMER_NEEDLES))
    assert after == ({}, {}, {}), f"left after the erasure: {after}"
    # Nobody is known under the address any more.
    assert app.delete(f"/v1/customers/{CUSTOMER['email']}").status_code == 404


@pytest.mark.parametrize("address", ["not-an-address", "a@b@c.io", "ada@acme.io\r\nBcc: x@y.io",
                                     "Ada <ada@acme.io>"])
def test_a_customer_address_that_is_not_one_address_is_a_422(app: Any, address: str) -> None:
    response = app.delete(f"/v1/customers/{quote(address, safe='@')}")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "email"


def test_unknown_lead_and_customer_are_404_and_change_nothing(app: Any, app_rt: Any) -> None:
    assert app.delete("/v1/leads/lead_nope").status_code == 404
    assert app.delete("/v1/customers/nobody@nowhere-known.io").status_code == 404
    with app_rt.db.session() as session:
        assert session.scalars(select(Job.kind)).all() == []


def test_redaction_waits_out_a_slack_outage(app: Any, worker: Any, app_rt: Any,
                                            fake_slack: FakeSlack, slack: SlackSide,
                                            clock: Any) -> None:
    rt = app_rt
    _support_story(app, worker, rt, fake_slack, slack, clock, conversation="conv-out",
                   customer=CUSTOMER, first=CUSTOMER_TEXT)
    posted = len(fake_slack.messages)
    fake_slack.fail_next("chat.update", status=503, times=2)
    assert app.delete(f"/v1/customers/{CUSTOMER['email']}").status_code == 200
    worker.run_until_idle()
    assert _slack_texts_with(fake_slack, CUSTOMER_NEEDLES)  # Slack is down: not yet
    with rt.db.session() as session:
        [job] = session.scalars(select(Job).where(Job.kind == "slack_redact_messages")).all()
        assert job.attempts >= 1 and job.failed_at is None  # retrying, not given up
    for _ in range(5):
        clock.advance(minutes=10)
        worker.run_until_idle()
    assert _slack_texts_with(fake_slack, CUSTOMER_NEEDLES) == {}
    assert len(fake_slack.calls("chat.update")) >= posted and _logged(rt) == {}


def test_a_message_posted_while_its_lead_was_being_erased_is_redacted(
        app: Any, worker: Any, app_rt: Any, fake_slack: FakeSlack) -> None:
    """A Slack job that was already running when the erasure committed: its post is logged
    against an erased subject, so it is queued for redaction at once."""
    from slack_app.message_log import posting_for
    from slack_app.web import call, web_client

    rt = app_rt
    lead_id = ingest(app, [event("late-1", "form_submit", at=T0, lead=PERSON, form="demo")]
                     )["leads"][0]["lead_id"]
    with posting_for(rt, "slack_post_reply", {"lead_id": lead_id}):
        assert app.delete(f"/v1/leads/{lead_id}").status_code == 200
        posted = call(web_client(rt).chat_postMessage, channel="C0LATE0001",
                      text="Zephyrine Quillfeather of Erasuredrillcorp")
    worker.run_until_idle()
    message = fake_slack.message("C0LATE0001", posted["ts"])
    assert "Zephyrine" not in json.dumps(message) and "erased" in message["text"]
    assert _logged(rt) == {}
