"""Who may act, and what Slack's request verification turns away: every refusal changes
nothing (no decision, no email, no card update)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from service.approvals import get_approval
from tests.fake_slack import all_text, buttons, card_message, wait_until
from tests.flow import pending_card


def _unchanged(rt, worker, fake_slack, smtp_sink, approval_id: str) -> None:  # type: ignore[no-untyped-def]
    worker.run_until_idle()
    assert get_approval(rt, approval_id)["status"] == "pending"
    assert smtp_sink.messages == []
    assert fake_slack.calls("chat.update") == []
    assert buttons(card_message(rt, fake_slack, approval_id)["blocks"])


def test_a_stranger_gets_an_ephemeral_refusal_and_nothing_changes(  # type: ignore[no-untyped-def]
        client, worker, rt, fake_slack, slack, smtp_sink) -> None:
    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    for user in ("U0REP0002", "U0SUP0001", "U0OUTSIDER"):
        assert slack.click(message, "Approve", user).status_code == 200
    refusals = fake_slack.wait_for("chat.postEphemeral", 3)
    assert {c.params["user"] for c in refusals} == {"U0REP0002", "U0SUP0001", "U0OUTSIDER"}
    for call in refusals:
        assert call.params["channel"] == message["channel"]
        assert call.params["text"].startswith("Only the assignee (<@U0REP0001>) or a manager")
    # The outsider is not on the roster by Slack id: the app asked Slack for their email first.
    assert [c.params["user"] for c in fake_slack.calls("users.info")] == ["U0OUTSIDER"]
    _unchanged(rt, worker, fake_slack, smtp_sink, card["approval_id"])


def test_modals_are_refused_before_they_open(client, worker, rt, fake_slack, slack,  # type: ignore[no-untyped-def]
                                             smtp_sink) -> None:
    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    for prefix in ("Edit", "Reject", "Escalate"):
        slack.click(message, prefix, "U0REP0002")
    refusals = fake_slack.wait_for("chat.postEphemeral", 3)
    assert all("Only the assignee" in c.params["text"] for c in refusals)
    assert fake_slack.calls("views.open") == []
    _unchanged(rt, worker, fake_slack, smtp_sink, card["approval_id"])


def test_a_modal_submitted_by_someone_else_is_refused(client, worker, rt, fake_slack,  # type: ignore[no-untyped-def]
                                                      slack, smtp_sink) -> None:
    card = pending_card(client, worker)
    slack.click(card_message(rt, fake_slack, card["approval_id"]), "Edit", "U0REP0001")
    [opened] = fake_slack.wait_for("views.open")
    # A forged submission from another user (the service checks again; the modal is no key).
    slack.submit(opened.params["view"], "U0REP0002", values={"body_0": "Hijacked"})
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    assert refusal.params["user"] == "U0REP0002" and "Only the assignee" in refusal.params["text"]
    _unchanged(rt, worker, fake_slack, smtp_sink, card["approval_id"])


def test_a_manager_may_decide_for_the_rep(client, worker, rt, fake_slack, slack,  # type: ignore[no-untyped-def]
                                          smtp_sink) -> None:
    card = pending_card(client, worker)
    slack.click(card_message(rt, fake_slack, card["approval_id"]), "Approve", "U0MGR0001")
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "approved")
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1
    assert "by <@U0MGR0001>" in all_text(card_message(rt, fake_slack,
                                                      card["approval_id"])["blocks"])


def test_bad_signature_and_stale_timestamp_get_401_and_change_nothing(  # type: ignore[no-untyped-def]
        client, worker, rt, fake_slack, slack, smtp_sink) -> None:
    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    before = len(fake_slack.calls())
    forged = slack.click(message, "Approve", "U0REP0001", signature="v0=" + "0" * 64)
    assert forged.status_code == 401
    stale = slack.click(message, "Approve", "U0REP0001", timestamp=int(time.time()) - 6 * 60)
    assert stale.status_code == 401
    wrong_secret = type(slack)(client, secret="not-the-secret")
    assert wrong_secret.click(message, "Approve", "U0REP0001").status_code == 401
    unsigned = client.post("/slack/events", content=urlencode({"payload": json.dumps({})}),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401
    # A signed request sent after them, answered in full: anything the refused ones had wrongly
    # started would have reached the fake by then (an event to wait for, not a sleep).
    slack.event({"type": "app_home_opened", "user": "U0SUP0001", "tab": "home"})
    fake_slack.wait_for("views.publish")
    assert [c.method for c in fake_slack.calls()[before:]] == ["views.publish"]
    _unchanged(rt, worker, fake_slack, smtp_sink, card["approval_id"])


def test_url_verification_challenge_is_answered(client, slack) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    response = slack.post(body, "application/json")
    assert response.status_code == 200 and response.json() == {"challenge": "c-123"}
