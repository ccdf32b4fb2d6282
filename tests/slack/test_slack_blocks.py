"""The Block Kit builders and thread answers as pure functions: plain dicts in, plain dicts out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.policy import REASON_CODES
from slack_app.answers import answer_question, is_question
from slack_app.blocks.card import ACTION_APPROVE, CardFacts, approval_card, parse_button_value
from slack_app.blocks.home import home_view
from slack_app.blocks.modals import edit_modal, escalate_modal, reject_modal
from slack_app.text import message_text, slack_date, split_text
from tests.fake_slack import all_text, buttons

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)

CONTEXT: dict[str, Any] = {
    "lead_id": "lead_1",
    "why_now": "Ada asked for a demo 5 minutes ago after two pricing visits.",
    "top_signals": [
        {"event_id": "e-3", "type": "form_submit", "occurred_at": "2026-11-18T14:55:00Z",
         "detail": "Submitted the demo form"},
        {"event_id": "e-1", "type": "page_view", "occurred_at": "2026-11-16T15:00:00+00:00",
         "detail": "Viewed /pricing"},
    ],
    "last_touch": {"event_id": "e-3", "type": "form_submit",
                   "occurred_at": "2026-11-18T14:55:00Z", "detail": "Submitted the demo form"},
    "source": "linkedin", "campaign": "Q4 webinar",
    "fit": {"score": 100.0, "segment": "mid-market", "in_icp": True,
            "reasons": ["mid-market (850 employees)", "VP title"]},
    "band": "A", "score": 70.0, "route": "hand_raise",
    "recommended_action": {"next_step": "Confirm the demo", "message_angle": "speed",
                           "asset": {"title": "Demo talk track", "kind": "talk_track",
                                     "path": "x.md"}},
    "risks": [{"code": "open_ticket", "detail": "Open support ticket: login fails"}],
}


def approval(**overrides: Any) -> dict[str, Any]:
    base = {
        "approval_id": "ap_1_v1", "lead_id": "lead_1", "handoff_id": "ho_1", "version": 1,
        "assignee": "U0REP0001", "status": "pending",
        "draft": {"channel": "email", "to": "ada@acme.io", "subject": "Your demo",
                  "body": "Hi Ada,\n\nShall we meet?\n\nRiley", "source": "offline",
                  "note": "offline draft"},
        "context": CONTEXT, "created_at": NOW - timedelta(minutes=1),
        "sla_due_at": NOW + timedelta(minutes=14), "decided_at": None, "decided_by": None,
    }
    base.update(overrides)
    return base


LEAD = {"first_name": "Ada", "last_name": "Park", "company": "Acme", "email": "ada@acme.io"}


def test_slack_date_format() -> None:
    at = datetime(2026, 11, 18, 14, 55, tzinfo=UTC)
    assert slack_date(at) == (f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}"
                              "|2026-11-18 14:55 UTC>")


def test_pending_card_has_every_part_and_four_buttons() -> None:
    text, blocks = approval_card(CardFacts(approval(), LEAD, NOW))
    assert text == "Approval v1 for Ada Park · Acme: awaiting your decision"
    assert blocks[0] == {"type": "header", "text": {
        "type": "plain_text", "text": "Ada Park · Acme — approval v1", "emoji": False}}
    assert blocks[1]["text"]["text"].startswith(
        "*Band A* · score 70 · fit 100 (mid-market, in ICP) · route `hand_raise`")
    body = all_text(blocks)
    for expected in ("*Why now*\nAda asked for a demo", "• Submitted the demo form — <!date^",
                     "• Viewed /pricing — <!date^1794841200^", "*Last touch:*",
                     "*Source:* linkedin", "*Campaign:* Q4 webinar", ":warning: Open support",
                     "*SLA:* <!date^", "(due in 14m)", "*Subject:* Your demo",
                     "Hi Ada,\n\nShall we meet?", ":robot_face: _offline draft_",
                     "*Recommended:* Confirm the demo", "*Asset:* Demo talk track"):
        assert expected in body, expected
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert buttons(blocks) == ["Approve and send", "Edit…", "Escalate…", "Reject…"]
    approve = actions["elements"][0]
    assert approve["action_id"] == ACTION_APPROVE and approve["style"] == "primary"
    assert parse_button_value(approve["value"]) == ("ap_1_v1", 1)
    assert json.loads(approve["value"]) == {"approval_id": "ap_1_v1", "version": 1}


def test_a_records_line_breaks_cannot_add_lines_to_the_card_or_a_notice() -> None:
    """A name or company stored with a line break (a CRM field, a record from before ingest
    made them one line) shows on one line: it cannot put a line that reads like ours under the
    card's notification, its header or the SLA escalation."""
    from slack_app.blocks.notices import sla_escalation_text

    lead = {**LEAD, "first_name": "Ada\n", "company": "Acme\n:+1: Approved by manager"}
    text, blocks = approval_card(CardFacts(approval(), lead, NOW))
    assert text.startswith("Approval v1 for Ada Park · Acme \u2236+1: Approved by manager: ")
    assert "\n" not in text and "\n" not in blocks[0]["text"]["text"]
    escalation = sla_escalation_text(lead, "U0REP0001", "U0REP0002")
    assert escalation.startswith(":rotating_light: SLA missed twice on Ada Park (Acme ")
    assert "\n" not in escalation and ":+1:" not in escalation


def test_decided_card_shows_outcome_who_when_and_no_buttons() -> None:
    decided = approval(status="rejected", decided_by="U0REP0001",
                       decided_at=NOW + timedelta(minutes=2))
    decision = {"action": "reject", "actor": "U0REP0001",
                "payload": {"reason_code": "not_now", "note": "Q2 <!channel>"}}
    text, blocks = approval_card(CardFacts(decided, LEAD, NOW, decision=decision))
    assert buttons(blocks) == [] and text.endswith(": rejected")
    outcome = blocks[-1]["text"]["text"]
    assert outcome.startswith(":x: *Rejected* by <@U0REP0001> <!date^")
    assert "Reason: Not now (`not_now`)" in outcome
    assert "&lt;!channel&gt;" in outcome and "<!channel>" not in outcome  # escaped


def test_superseded_card_points_to_the_newer_version() -> None:
    revised = approval(status="revised", decided_by="U0REP0001", decided_at=NOW)
    decision = {"action": "revise", "payload": {"instruction": "shorter"}}
    _, blocks = approval_card(CardFacts(revised, LEAD, NOW, decision=decision,
                                        newer_version=2, newer_holder="U0REP0001"))
    outcome = blocks[-1]["text"]["text"]
    assert "*Revision requested* by <@U0REP0001>" in outcome and "“shorter”" in outcome
    assert "Superseded by version 2 (in this thread)" in outcome
    assert buttons(blocks) == []
    # A pending version with a newer one somewhere (escalated elsewhere) has no buttons either.
    _, blocks = approval_card(CardFacts(approval(), LEAD, NOW, newer_version=2,
                                        newer_holder="U0MGR0001", newer_in_thread=False))
    assert buttons(blocks) == [] and "(now with <@U0MGR0001>)" in all_text(blocks)


def test_long_bodies_are_split_and_limits_hold() -> None:
    paragraph = "word " * 150  # 750 characters
    body = "\n\n".join(f"{i}: {paragraph}" for i in range(26))  # ~20,000 characters
    long_one = approval(draft={**approval()["draft"], "body": body, "subject": "S" * 300},
                        context={**CONTEXT, "why_now": "x" * 5000})
    _, blocks = approval_card(CardFacts(long_one, {**LEAD, "company": "C" * 200}, NOW))
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            assert len(text["text"]) <= 3000
        for element in block.get("elements") or []:
            if "text" in element and isinstance(element["text"], str):
                assert len(element["text"]) <= 3000
    body_sections = [b["text"]["text"] for b in blocks
                     if b["type"] == "section" and b["text"]["type"] == "plain_text"]
    assert len(body_sections) >= 7
    assert "".join(body_sections).replace("\n", "").replace(" ", "") == \
        body.replace("\n", "").replace(" ", "")
    assert all(not s.startswith(" ") for s in body_sections)  # cut at boundaries


def test_split_text_reassembles_exactly() -> None:
    text = "a" * 2500 + "\n\n" + "b" * 2900 + "\n" + "c" * 100 + " " + "d" * 6000
    chunks, joiners = split_text(text, 3000)
    assert all(len(c) <= 3000 for c in chunks)
    rebuilt = chunks[0] + "".join(j + c for j, c in zip(joiners, chunks[1:], strict=True))
    assert rebuilt == text
    assert split_text("short", 3000) == (["short"], [])


def test_edit_modal_prefills_and_splits_long_bodies() -> None:
    view = edit_modal(approval(), "D0REP0001", None)
    assert view["type"] == "modal" and view["callback_id"] == "approval_edit_modal"
    assert len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == ["subject", "body_0"]
    assert inputs[0]["element"] == {"type": "plain_text_input", "action_id": "subject",
                                    "initial_value": "Your demo", "max_length": 300}
    assert inputs[1]["element"]["initial_value"] == "Hi Ada,\n\nShall we meet?\n\nRiley"
    meta = json.loads(view["private_metadata"])
    assert meta["approval_id"] == "ap_1_v1" and meta["channel"] == "D0REP0001"

    long_body = "x" * 2000 + "\n\n" + "y" * 2000 + "\n\n" + "z" * 2000
    view = edit_modal(approval(draft={**approval()["draft"], "body": long_body}), "D1")
    parts = [b for b in view["blocks"] if b["type"] == "input"][1:]
    assert len(parts) == 3 and all(len(p["element"]["initial_value"]) <= 3000 for p in parts)
    assert parts[0]["label"]["text"] == "Body (part 1 of 3)"
    assert json.loads(view["private_metadata"])["joiners"] == ["\n\n", "\n\n"]
    assert len(view["private_metadata"]) <= 3000


def test_reject_and_escalate_modals() -> None:
    reject = reject_modal(approval(), "D1")
    [select] = [b for b in reject["blocks"] if b["block_id"] == "reason"]
    assert select["element"]["type"] == "static_select"
    assert tuple(o["value"] for o in select["element"]["options"]) == REASON_CODES
    assert all(len(o["text"]["text"]) <= 75 for o in select["element"]["options"])
    escalate = escalate_modal(approval(), "D1")
    target, note = escalate["blocks"]
    assert target["optional"] is True and target["element"]["type"] == "users_select"
    assert note["element"]["type"] == "plain_text_input" and note["optional"] is True


def test_home_view_orders_and_states_the_sla() -> None:
    overdue = approval(approval_id="ap_2_v1", sla_due_at=NOW - timedelta(hours=3, minutes=5))
    upcoming = approval(sla_due_at=NOW + timedelta(days=1, hours=2))
    view = home_view("Riley Rep", [overdue, upcoming], NOW)
    text = all_text(view["blocks"])
    assert view["type"] == "home"
    assert text.index("*overdue* by 3h 05m") < text.index("due in 1d 2h")
    assert "not on the team roster" in all_text(home_view(None, [], NOW)["blocks"])
    many = home_view("Morgan", [], NOW, team=[approval()] * 300)
    assert len(many["blocks"]) <= 100 and "more." in all_text(many["blocks"])


def test_questions_are_recognised() -> None:
    for text in ("Why band A?", "why now", "What are the risks", "how did they find us",
                 "When did she visit?", "Who is this?", "which campaign", "is this ok?"):
        assert is_question(text), text
    for text in ("shorter please", "mention the webinar", "Whyever not, add a PS.", ""):
        assert not is_question(text), text


def test_answers_come_from_the_context_package() -> None:
    band = answer_question("Why band A?", CONTEXT)
    assert "*Band A*, score 70.0" in band and "mid-market (850 employees)" in band
    assert "Submitted the demo form — <!date^" in band
    assert answer_question("why now?", CONTEXT).startswith("*Why now:* Ada asked for a demo")
    risks = answer_question("what are the risks?", CONTEXT)
    assert "Open support ticket: login fails" in risks and "band" not in risks.lower()
    assert "none found" in answer_question("any risks?", {**CONTEXT, "risks": []})
    assert "linkedin" in answer_question("which campaign brought them?", CONTEXT)
    sla = answer_question("when is the SLA due?", CONTEXT, sla_due_at=NOW)
    assert "*SLA due:* <!date^" in sla
    fallback = answer_question("who are you?", CONTEXT)
    assert fallback.startswith("*Why now:*") and "revision instruction" in fallback


def test_message_text_undoes_slack_formatting() -> None:
    assert message_text("a &amp; b &lt;c&gt;") == "a & b <c>"
    assert message_text("see <https://x.test/a|the page> or <https://x.test/b>") == \
        "see the page (https://x.test/a) or https://x.test/b"
    assert message_text("mail <mailto:ada@acme.io|ada@acme.io>") == "mail ada@acme.io"


def test_an_absurdly_long_body_is_truncated_readably_within_50_blocks() -> None:
    huge = approval(draft={**approval()["draft"], "body": ("line of text\n" * 8000)})
    _, blocks = approval_card(CardFacts(huge, LEAD, NOW))
    assert len(blocks) <= 50 and buttons(blocks)  # the buttons survive
    assert "[…truncated; see the API]" in all_text(blocks)


def test_the_failed_send_notice_says_whether_a_retry_could_send_twice() -> None:
    from service.lifecycle import OUTCOME_UNKNOWN
    from slack_app.blocks.notices import send_failed_text

    approval = {"lead_id": "lead_1", "outbox_id": "ob_1", "context": {}}
    refused = send_failed_text({**approval, "send_detail": "the mail server refused it: 550"},
                               None)
    assert "was not sent" in refused and "only once" in refused
    unknown = send_failed_text({**approval, "send_detail": f"{OUTCOME_UNKNOWN}: no answer"},
                               None)
    assert "may or may not have arrived" in unknown and "If it did not" in unknown
    assert "was not sent" not in unknown and "only once" not in unknown
    assert "hitl outbox retry ob_1" in unknown

    from slack_app.blocks.card import send_status_text

    failed = {**approval, "send_status": "failed"}
    assert send_status_text({**failed, "send_detail": "the mail server refused it: 550"}
                            ).startswith(":x: Not sent, gave up")
    on_card = send_status_text({**failed, "send_detail": f"{OUTCOME_UNKNOWN}: no answer"})
    assert "not confirmed, so not sent again" in on_card and "Not sent" not in on_card
