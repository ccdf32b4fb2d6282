"""Slack end to end: the card, each decision, driven by signed requests exactly as Slack sends
them, with the fake Web API on loopback, the real worker and the local SMTP sink."""

from __future__ import annotations

from typing import Any

from service.approvals import get_approval, list_approvals
from tests.fake_slack import all_text, buttons, card_message, wait_until
from tests.flow import pending_card


def _decided(rt: Any, approval_id: str) -> bool:
    return get_approval(rt, approval_id)["status"] != "pending"


def test_card_posted_to_the_assignee_dm(client, worker, rt, fake_slack) -> None:
    card = pending_card(client, worker)
    [opened] = fake_slack.calls("conversations.open")
    assert opened.params["users"] == "U0REP0001"
    [post] = fake_slack.calls("chat.postMessage")
    assert post.params["channel"] == "D0REP0001"
    assert all(c.token == "xoxb-test" for c in fake_slack.calls())
    message = card_message(rt, fake_slack, card["approval_id"])
    texts = buttons(message["blocks"])
    assert [t.split()[0].rstrip("…") for t in texts] == ["Approve", "Edit", "Escalate", "Reject"]
    text = all_text(message["blocks"])
    assert card["context"]["why_now"][:40] in text.replace("&amp;", "&")
    assert "<!date^" in text and "offline draft" in text
    assert card["draft"]["subject"] in text


def _click_and_wait(slack, rt, fake_slack, approval_id: str, prefix: str,  # type: ignore[no-untyped-def]
                    user: str = "U0REP0001") -> Any:
    message = card_message(rt, fake_slack, approval_id)
    response = slack.click(message, prefix, user)
    assert response.status_code == 200, response.text
    return response


def test_approve_sends_one_email_and_updates_the_card(client, worker, rt, fake_slack, slack,  # type: ignore[no-untyped-def]
                                                      smtp_sink) -> None:
    card = pending_card(client, worker)
    _click_and_wait(slack, rt, fake_slack, card["approval_id"], "Approve")
    wait_until(lambda: _decided(rt, card["approval_id"]))
    worker.run_until_idle()

    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ["ada@acme.io"] and mail.subject == card["draft"]["subject"]
    assert get_approval(rt, card["approval_id"])["decided_by"] == "U0REP0001"
    # Updated in place: at the decision ("queued") and when the mail server took it ("sent").
    updates = fake_slack.calls("chat.update")
    message = card_message(rt, fake_slack, card["approval_id"])
    assert 1 <= len(updates) <= 2 and {u.params["ts"] for u in updates} == {message["ts"]}
    assert buttons(message["blocks"]) == []
    text = all_text(message["blocks"])
    assert "*Approved* by <@U0REP0001> <!date^" in text
    assert ":email: Sent <!date^" in text


def test_double_click_and_retried_delivery_send_one_email(client, worker, rt, fake_slack,  # type: ignore[no-untyped-def]
                                                          slack, smtp_sink) -> None:
    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    assert slack.click(message, "Approve", "U0REP0001").status_code == 200
    assert slack.click(message, "Approve", "U0REP0001").status_code == 200
    retried = slack.click(message, "Approve", "U0REP0001",
                          headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    assert retried.status_code == 200
    wait_until(lambda: _decided(rt, card["approval_id"]))
    refusals = fake_slack.wait_for("chat.postEphemeral", 2)
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1
    assert all("already approved by you" in c.params["text"] for c in refusals)
    # The repeated clicks changed nothing: at most the decision's and the send's updates.
    assert len(fake_slack.calls("chat.update")) <= 2


def test_edit_modal_is_prefilled_and_sends_the_edited_text(client, worker, rt, fake_slack,  # type: ignore[no-untyped-def]
                                                           slack, smtp_sink) -> None:
    card = pending_card(client, worker)
    _click_and_wait(slack, rt, fake_slack, card["approval_id"], "Edit")
    [opened] = fake_slack.wait_for("views.open")
    view = opened.params["view"]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["subject"]["type"] == "plain_text_input"
    assert inputs["subject"]["initial_value"] == card["draft"]["subject"]
    assert inputs["body_0"]["initial_value"] == card["draft"]["body"]
    assert inputs["body_0"]["multiline"] is True
    assert opened.params["trigger_id"]

    response = slack.submit(view, "U0REP0001", values={
        "subject": "Your demo, Ada", "body_0": "Hi Ada,\n\nEdited in Slack.\n\nRiley"})
    assert response.status_code == 200 and response.text in ("", "null")
    wait_until(lambda: _decided(rt, card["approval_id"]))
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.subject == "Your demo, Ada" and "Edited in Slack." in mail.body
    text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
    assert "*Edited and approved* by <@U0REP0001>" in text and "Edited in Slack." in text


def test_edit_modal_refuses_an_empty_body_inside_the_modal(client, worker, rt, fake_slack,  # type: ignore[no-untyped-def]
                                                           slack) -> None:
    card = pending_card(client, worker)
    _click_and_wait(slack, rt, fake_slack, card["approval_id"], "Edit")
    [opened] = fake_slack.wait_for("views.open")
    response = slack.submit(opened.params["view"], "U0REP0001", values={"body_0": "   "})
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"
    assert "body_0" in response.json()["errors"]
    assert get_approval(rt, card["approval_id"])["status"] == "pending"


def test_reject_modal_recycles_the_lead(client, worker, rt, fake_slack, slack,  # type: ignore[no-untyped-def]
                                        smtp_sink) -> None:
    card = pending_card(client, worker)
    _click_and_wait(slack, rt, fake_slack, card["approval_id"], "Reject")
    [opened] = fake_slack.wait_for("views.open")
    view = opened.params["view"]
    [select] = [b["element"] for b in view["blocks"] if b["block_id"] == "reason"]
    assert select["type"] == "static_select"
    assert [o["value"] for o in select["options"]] == [
        "connected", "meeting_set", "no_response", "not_icp", "not_now", "competitor",
        "duplicate"]
    assert slack.submit(view, "U0REP0001", values={"reason": "not_now",
                                                   "note": "budget in Q2"}).status_code == 200
    wait_until(lambda: _decided(rt, card["approval_id"]))
    worker.run_until_idle()
    assert smtp_sink.messages == []
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    assert lead["stage"] == "recycled" and lead["suppression_reason"] == "not_now"
    text = all_text(card_message(rt, fake_slack, card["approval_id"])["blocks"])
    assert "*Rejected* by <@U0REP0001>" in text and "`not_now`" in text
    assert "budget in Q2" in text


def test_escalate_without_a_choice_goes_to_a_manager_with_the_history(  # type: ignore[no-untyped-def]
        client, worker, rt, fake_slack, slack, smtp_sink) -> None:
    card = pending_card(client, worker)
    _click_and_wait(slack, rt, fake_slack, card["approval_id"], "Escalate")
    [opened] = fake_slack.wait_for("views.open")
    view = opened.params["view"]
    target = next(b for b in view["blocks"] if b["block_id"] == "target")
    assert target["element"]["type"] == "users_select" and target["optional"] is True
    slack.submit(view, "U0REP0001", values={"note": "big account, please look"})
    wait_until(lambda: _decided(rt, card["approval_id"]))
    worker.run_until_idle()

    [v2] = list_approvals(rt)
    assert v2["assignee"] == "U0MGR0001" and v2["version"] == 2
    assert [c.params["users"] for c in fake_slack.calls("conversations.open")] == [
        "U0REP0001", "U0MGR0001"]
    new_card = card_message(rt, fake_slack, v2["approval_id"])
    assert new_card["channel"] == "D0MGR0001" and new_card.get("thread_ts") is None
    assert buttons(new_card["blocks"])[0].startswith("Approve")
    history = fake_slack.thread("D0MGR0001", new_card["ts"])
    history_text = "\n".join(all_text(m["blocks"]) for m in history)
    assert "History for Ada Park" in history_text
    assert "form submit" in history_text and "page view" in history_text  # every signal
    assert "Version 1" in history_text and "big account, please look" in history_text
    assert "*Escalated* by <@U0REP0001>" in history_text

    old = card_message(rt, fake_slack, card["approval_id"])
    old_text = all_text(old["blocks"])
    assert buttons(old["blocks"]) == []
    assert "<@U0MGR0001> holds it now" in old_text and "Superseded by version 2" in old_text

    # The manager approves from the new card; one email goes out.
    slack.click(new_card, "Approve", "U0MGR0001")
    wait_until(lambda: _decided(rt, v2["approval_id"]))
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1


def test_escalate_to_a_chosen_teammate(client, worker, rt, fake_slack, slack) -> None:  # type: ignore[no-untyped-def]
    card = pending_card(client, worker)
    _click_and_wait(slack, rt, fake_slack, card["approval_id"], "Escalate")
    [opened] = fake_slack.wait_for("views.open")
    outsider = slack.submit(opened.params["view"], "U0REP0001", values={"target": "U0NOBODY"})
    assert outsider.json()["response_action"] == "errors" and "target" in outsider.json()["errors"]
    slack.submit(opened.params["view"], "U0REP0001", values={"target": "U0REP0002"})
    wait_until(lambda: _decided(rt, card["approval_id"]))
    worker.run_until_idle()
    [v2] = list_approvals(rt)
    assert v2["assignee"] == "U0REP0002"
    assert card_message(rt, fake_slack, v2["approval_id"])["channel"] == "D0REP0002"


def test_an_acknowledged_click_is_on_disk_before_it_is_decided(client, worker, rt, fake_slack,
                                                               smtp_sink) -> None:
    """Slack gets its answer once the click is a durable job; the worker decides it later, even
    if the web process is gone by then (here: nothing runs the worker until after the 200)."""
    from sqlalchemy import select

    from store.tables import Job
    from tests.fake_slack import SlackSide

    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    assert SlackSide(client).click(message, "Approve", "U0REP0001").status_code == 200
    [job] = _queued(rt)  # already on disk when Slack got its 200
    assert job.payload["approval_id"] == card["approval_id"]
    assert job.payload["decision"]["action"] == "approve"
    assert not _decided(rt, card["approval_id"]) and smtp_sink.messages == []

    worker.run_until_idle()
    assert get_approval(rt, card["approval_id"])["status"] == "approved"
    assert len(smtp_sink.messages) == 1
    with rt.db.read() as session:
        assert session.scalars(select(Job).where(Job.kind == "slack_record_decision")).all() == []


def _queued(rt: Any) -> list[Any]:
    from sqlalchemy import select

    from store.tables import Job

    with rt.db.read() as session:
        return list(session.scalars(select(Job).where(Job.kind == "slack_record_decision")))


def test_slack_is_answered_within_the_budget_even_when_the_store_is_slow(
        client, worker, rt, fake_slack, smtp_sink, monkeypatch) -> None:
    """The durable write may wait; Slack's answer may not (3 s limit). The click still lands."""
    import threading

    from slack_app import ack_budget
    from tests.fake_slack import SlackSide

    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    monkeypatch.setattr(ack_budget, "ACK_BUDGET_S", 0.3)
    arrivals: list[object] = []
    budget_left = ack_budget.budget_left

    def counted_from_arrival(context):  # type: ignore[no-untyped-def]
        arrivals.append(context.get(ack_budget._ARRIVED))
        return budget_left(context)

    monkeypatch.setattr(ack_budget, "budget_left", counted_from_arrival)
    held, release = threading.Event(), threading.Event()

    def hold_the_writer_lock() -> None:
        assert rt.db.write_lock is not None
        with rt.db.write_lock:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold_the_writer_lock)
    holder.start()
    try:
        assert held.wait(5)
        assert SlackSide(client).click(message, "Approve", "U0REP0001").status_code == 200
        assert holder.is_alive()  # answered while the writer lock was still held
        assert len(arrivals) == 1 and isinstance(arrivals[0], float)  # stamped on arrival
        assert _queued(rt) == []  # not on disk yet: the store is busy
    finally:
        release.set()
        holder.join(10)
    wait_until(lambda: _queued(rt))  # the write finished behind the answer
    worker.run_until_idle()
    assert get_approval(rt, card["approval_id"])["status"] == "approved"
    assert len(smtp_sink.messages) == 1
