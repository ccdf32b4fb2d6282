"""Slack text is inert: every builder in `slack_app`, fed a lead and a customer whose every field
is hostile, gives Slack no live mention, link, date, formatting trick or invisible character,
and output that Slack's own SDK models accept. The enumeration is by introspection: a new public
function in `slack_app` fails `test_every_function_is_a_covered_builder_or_says_why_not` until
it gets a recipe below (or a reason it renders nothing)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

import slack_app
from agent.support.models import CustomerFacts, TranscriptLine, WarmTransfer
from service.conversations import AlreadyClaimed
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.lifecycle import OUTCOME_UNKNOWN
from slack_app import answers, recycle_notice, text
from slack_app.blocks import card, history, home, modals, notices
from slack_app.support import blocks as support_blocks
from slack_app.support import feedback_jobs
from tests.slack.assistant_recipes import ASSISTANT_NOT_BUILDERS, ASSISTANT_RECIPES
from tests.slack_oracle import HOSTILE, HOSTILE_ALL, violations

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
SUPPORT_CHANNEL = "C0SUPPORT1"
STRINGS = (*HOSTILE, HOSTILE_ALL)


# -- hostile inputs ------------------------------------------------------------------------------

def lead(h: str) -> dict[str, Any]:
    return {"lead_id": "lead_1", "first_name": h, "last_name": h, "email": h, "company": h,
            "title": h, "disqualifiers": [{"code": h, "reason": h}]}


def context(h: str) -> dict[str, Any]:
    signal = {"event_id": h, "type": h, "occurred_at": "2026-11-18T14:55:00Z", "detail": h}
    return {"lead_id": "lead_1", "why_now": h, "top_signals": [signal, {**signal, "detail": None}],
            "last_touch": signal, "source": h, "campaign": h,
            "fit": {"score": h, "segment": h, "in_icp": True, "reasons": [h, h]},
            "band": h, "score": h, "route": h,
            "recommended_action": {"next_step": h, "message_angle": h,
                                   "asset": {"title": h, "kind": h, "path": h}},
            "risks": [{"code": h, "detail": h}, {"code": h}]}


def approval(h: str, **overrides: Any) -> dict[str, Any]:
    base = {"approval_id": "ap_1_v1", "lead_id": "lead_1", "handoff_id": "ho_1", "version": 2,
            "assignee": "U0REP0001", "status": "pending",
            "draft": {"channel": "email", "to": h, "subject": h, "body": h * 3,
                      "source": "fallback", "note": h},
            "context": context(h), "created_at": NOW - timedelta(hours=3),
            "sla_due_at": NOW - timedelta(minutes=5), "decided_at": NOW,
            "decided_by": "U0REP0001", "send_status": "queued", "send_detail": h,
            "outbox_id": h, "sent_at": NOW, "failing_since": NOW, "next_attempt_at": NOW,
            "request": {"escalation": {"by": "U0MGR0001", "from": h, "note": h}}}
    base.update(overrides)
    return base


DECIDED = ("approved", "edited", "revised", "escalated", "rejected", "reassigned", "superseded")
SEND_STATES = ("queued", "retrying", "sent", "blocked", "failed", "not_applicable")


def decision(h: str) -> dict[str, Any]:
    return {"action": "reject", "actor": "U0REP0001", "created_at": NOW,
            "payload": {"reason_code": h, "note": h, "instruction": h, "subject": h, "body": h,
                        "escalate_to": "U0MGR0001"}}


def decided_approvals(h: str) -> list[dict[str, Any]]:
    out = [approval(h, status=s) for s in DECIDED]
    out += [approval(h, status="approved", send_status=s) for s in SEND_STATES]
    out += [approval(h, status="rejected", decided_by=h), approval(h, assignee=h)]
    return out


def package(h: str, status: str = "waiting", **overrides: Any) -> WarmTransfer:
    customer = CustomerFacts(
        email=h, name=h, lead_id="lead_1", company=h, domain=h, title=h, employees=850,
        segment=h, band=h, account_owner="U0REP0001", plan=h, value="high", value_reasons=[h],
        open_tickets=[{"subject": h}, {"subject": None}], recent_activity=[{"detail": h}],
        previous_transfers=2)
    values: dict[str, Any] = dict(
        handoff_id="wt_1", conversation_id=h, status=status, owner="U0SUP0001", summary=h,
        trigger={"reason": "asked_for_human", "label": h, "detail": h,
                 "also": ["churn_threat", h]},
        intent=h, sentiment={"current": -0.5, "trend": h, "average": h}, customer=customer,
        bot_tried={"answers": 1, "misses": h, "articles": [{"title": h, "times_shown": 2}]},
        transcript=transcript(h), waiting_since=NOW - timedelta(minutes=20),
        claimed_at=NOW, escalated_at=None, escalated_to="U0SUP0001", closed_at=NOW,
        closed_by="U0SUP0001", note=h, suggested_next_steps=[h, h], suggested_reply=h,
        policy_version=h)
    values.update(overrides)
    return WarmTransfer(**values)


def transcript(h: str) -> list[TranscriptLine]:
    return [TranscriptLine(role="customer", text=h, at=NOW),
            TranscriptLine(role="bot", text=h, at=NOW),
            TranscriptLine(role="agent", text=h, at=NOW, author="U0SUP0001"),
            TranscriptLine(role="agent", text=h, at=NOW, author=h),
            TranscriptLine(role="system", text=h, at=NOW)]


QUESTIONS = ("why now?", "why this band and score?", "what are the risks?",
             "when did the signals happen?", "where did they come from, which campaign?",
             "when was the last touch?", "what should I recommend next?", "when is it due?",
             "what?", "why")


# -- recipes: every builder, called with every hostile string -------------------------------------

Recipe = Callable[[str], list[Any]]

RECIPES: dict[str, Recipe] = {
    "blocks.card.approval_card": lambda h: [
        card.approval_card(card.CardFacts(approval(h), lead(h), NOW)),
        card.approval_card(card.CardFacts(approval(h), None, NOW)),
        *[card.approval_card(card.CardFacts(a, lead(h), NOW, decision=decision(h)))
          for a in decided_approvals(h)],
        card.approval_card(card.CardFacts(approval(h), lead(h), NOW, newer_version=3,
                                          newer_holder=h, newer_in_thread=False)),
        card.approval_card(card.CardFacts(approval(h), lead(h), NOW, newer_version=3,
                                          newer_holder="U0MGR0001")),
    ],
    "blocks.card.draft_blocks": lambda h: [
        card.draft_blocks(h, h * 3, approval(h)["draft"], 2),
        card.draft_blocks(h, h, {"source": "offline"}, 1, label=h)],
    "blocks.card.outcome_text": lambda h: [card.outcome_text(a, decision(h))
                                           for a in decided_approvals(h)],
    "blocks.card.send_status_text": lambda h: [
        card.send_status_text(approval(h, send_status=s)) for s in SEND_STATES] + [
        card.send_status_text(approval(h, send_status="failed",
                                       send_detail=f"{OUTCOME_UNKNOWN}: {h}"))],
    "blocks.card.signal_line": lambda h: [card.signal_line(s)
                                          for s in context(h)["top_signals"]],
    "blocks.card.sla_text": lambda h: [card.sla_text(d, NOW) for d in
                                       (None, NOW - timedelta(hours=2), NOW + timedelta(days=3))],
    "blocks.card.warnings": lambda h: card.warnings(approval(h), NOW),
    "blocks.notices.conflict_message": lambda h: [
        notices.conflict_message(a, v, actor) for a in [approval(h), *decided_approvals(h)]
        for v in (None, 3) for actor in ("U0REP0001", h)],
    "blocks.notices.erased_card": lambda h: [notices.erased_card()],
    "blocks.notices.forbidden_message": lambda h: [notices.forbidden_message(k)
                                                   for k in ("U0REP0001", h, None)],
    "blocks.notices.invalid_message": lambda h: [notices.invalid_message(h)],
    "blocks.notices.send_failed_text": lambda h: [
        notices.send_failed_text(approval(h), lead(h)),
        notices.send_failed_text(approval(h), None),
        notices.send_failed_text(approval(h, send_detail=f"{OUTCOME_UNKNOWN}: {h}"), lead(h))],
    "blocks.notices.sla_reminder_text": lambda h: [
        notices.sla_reminder_text(k, d) for k in ("U0REP0001", h) for d in (NOW, None)],
    "blocks.notices.sla_escalation_text": lambda h: [
        notices.sla_escalation_text(lead(h), "U0REP0001", "U0REP0002"),
        notices.sla_escalation_text(lead(h), h, h),
        notices.sla_escalation_text(None, None, None)],
    "blocks.modals.edit_modal": lambda h: [modals.edit_modal(approval(h), "D0REP0001", "1.2")],
    "blocks.modals.reject_modal": lambda h: [modals.reject_modal(approval(h), "D0REP0001")],
    "blocks.modals.escalate_modal": lambda h: [modals.escalate_modal(approval(h), None)],
    "blocks.history.history_messages": lambda h: history.history_messages(
        lead(h), context(h)["top_signals"],
        [{"approval": a, "decision": decision(h)} for a in decided_approvals(h)]
        + [{"approval": approval(h), "decision": None}], total_signals=40),
    "blocks.home.home_view": lambda h: [
        home.home_view(h, [approval(h), approval(h, sla_due_at=None),
                           approval(h, sla_due_at=NOW + timedelta(hours=1))], NOW,
                       team=[approval(h)] * 120),
        home.home_view(h, [], NOW), home.home_view(None, [], NOW)],
    "answers.answer_question": lambda h: [answers.answer_question(q, context(h), sla_due_at=d)
                                          for q in QUESTIONS for d in (NOW, None)]
    + [answers.answer_question(q, {}) for q in QUESTIONS],
    "support.blocks.transfer_card": lambda h: [
        support_blocks.transfer_card(package(h, s)) for s in
        ("waiting", "claimed", "resolved", "handed_back")]
    + [support_blocks.transfer_card(package(h, escalated_at=NOW))],
    "support.blocks.status_text": lambda h: [
        support_blocks.status_text(package(h, s, owner=o, closed_by=o)) for s in
        ("waiting", "claimed", "resolved", "handed_back") for o in ("U0SUP0001", h)]
    + [support_blocks.status_text(package(h, escalated_at=NOW, escalated_to=h))],
    "support.blocks.transcript_line": lambda h: [support_blocks.transcript_line(x)
                                                 for x in transcript(h)],
    "support.blocks.transcript_messages": lambda h: support_blocks.transcript_messages(
        transcript(h) * 40),
    "support.blocks.escalation_notice": lambda h: [
        support_blocks.escalation_notice(k, m) for k in ("U0SUP0001", h, None)
        for m in (7, None)],
    "support.blocks.escalation_dm": lambda h: [
        support_blocks.escalation_dm(package(h), c, 7) for c in (SUPPORT_CHANNEL, h, None)],
    "support.blocks.refusal_text": lambda h: [support_blocks.refusal_text(e) for e in (
        AlreadyClaimed("U0SUP0001"), AlreadyClaimed(h), NotFound(h), Forbidden(h),
        Conflict(h), InvalidInput(h))],
    "support.blocks.hand_back_modal": lambda h: [
        support_blocks.hand_back_modal("wt_1", SUPPORT_CHANNEL, "1.2")],
    # The primitives themselves, on hostile text.
    "text.inert": lambda h: [text.inert(h), text.inert(h, 40), text.inert(h * 30, 2999)],
    "text.code": lambda h: [text.code(h)],
    "text.who": lambda h: [text.who(h), text.who("U0REP0001"), text.who(None)],
    "text.section": lambda h: [text.section(text.inert(h * 400))],
    "text.text_blocks": lambda h: [text.text_blocks(text.inert(h * 400))],
    "text.context": lambda h: [text.context(*[text.inert(h)] * 12)],
    "text.mrkdwn": lambda h: [{"type": "section", "text": text.mrkdwn(text.inert(h))}],
    "text.plain_text": lambda h: [{"type": "header", "text": text.plain_text(h, 150)}],
    "text.plain_section": lambda h: [text.plain_section(h * 400)],
    "text.mention": lambda h: [text.mention(h) or "", text.mention("U0REP0001")],
    "text.channel_link": lambda h: [text.channel_link(h) or "",
                                    text.channel_link(SUPPORT_CHANNEL)],
    "text.slack_date": lambda h: [text.slack_date(NOW), text.slack_date(None),
                                  text.slack_date(NOW.replace(tzinfo=None), "{time}")],
    "text.duration": lambda h: [text.duration(s) for s in (30, 3 * 3600 + 300, 3 * 86400)],
    "support.feedback_jobs.feedback_text": lambda h: [
        feedback_jobs.feedback_text(
            {"kind": kind, "path": path, "trigger": h, "comment": h, "score": 1,
             "customer": h, "agent": h, "owner": h, "phone": h, "due_at": NOW,
             "conversation_id": h}, text.mention("U0SUP0001") or "")
        for kind in ("csat", "callback_scheduled", "callback_reminder", "callback_overdue")
        for path in ("bot_only", "transferred")],
    "recycle_notice.recycle_text": lambda h: [
        recycle_notice.recycle_text({"first_name": h, "last_name": h, "email": h, "company": h,
                                     "nurture_track": h}, 3, crm=crm, kept_owner=kept)
        for crm in (True, False) for kept in (True, False)],
    **ASSISTANT_RECIPES,
}

# Builders that only load facts and hand them to a covered builder.
DELEGATES: dict[str, str] = {
    "cards.render": "blocks.card.approval_card",
    "decisions.conflict_text": "blocks.notices.conflict_message",
    "decisions.forbidden_text": "blocks.notices.forbidden_message",
    "listeners.precheck": "decisions.forbidden_text",
    "home.home_for": "blocks.home.home_view",  # reads the approvals, home_view shows them
}

# Public functions that give people no text: why each one is not a builder.
NOT_BUILDERS: dict[str, str] = {
    "answers.is_question": "classifies a thread reply",
    "home.viewers_after_erasure": "picks roster members whose Home tab to publish again",
    "blocks.card.approval_on": "reads the approval id back from a posted card's buttons",
    "blocks.card.as_datetime": "parses a timestamp",
    "blocks.card.button_value": "a button's value (JSON Slack sends back, never shown)",
    "blocks.card.parse_button_value": "reads a button's value",
    "blocks.modals.modal_metadata": "a modal's private_metadata (never shown)",
    "blocks.card.lead_title": "raw title text, shown only through inert/plain_text by the "
                              "builders",
    "blocks.card.disqualified_since": "a warning line, rendered inside approval_card (covered)",
    "blocks.card.lead_name": "raw name text, shown only through inert/plain_text by the "
                             "builders",
    "text.one_line": "raw text made one line, shown only through inert/plain_text",
    "cards.card_facts": "reads the facts a card renders",
    "cards.load_approval": "store read",
    "cards.load_lead": "store read",
    "cards.slack_user_for": "a roster member's Slack id",
    "decisions.decision_payload": "a job payload",
    "decisions.queue_decisions": "enqueues jobs",
    "decisions.record_decision_job": "I/O: posts conflict/forbidden/invalid texts (covered)",
    "decisions.actor_for_slack_user": "roster key of a Slack user",
    "jobs.logged": "wraps a job handler",
    "jobs.slack_job_handlers": "returns the job registry, no text",
    "jobs.post_approval": "I/O: posts approval_card and history_messages",
    "jobs.post_reply": "I/O: posts an answer_question text",
    "jobs.redact_lead": "I/O: posts erased_card",
    "jobs.redact_messages": "I/O: posts a constant notice",
    "jobs.sla_escalation": "I/O: posts sla_escalation_text",
    "jobs.sla_reminder": "I/O: posts sla_reminder_text",
    "jobs.update_card": "I/O: posts approval_card",
    "listeners.build_decision": "validates a decision",
    "listeners.ephemeral": "I/O: posts texts built by the covered builders",
    "listeners.queue_reply": "enqueues an answer_question text",
    "listeners.queue_decision": "enqueues a decision",
    "listeners.register": "Bolt wiring",
    "listeners.resolve_actor": "roster key of a Slack user",
    "listeners.thread_reply": "I/O: queues answer_question texts",
    "send_status.notify_send_failed": "I/O: posts send_failed_text",
    "support.jobs.escalate_slack": "I/O: posts escalation_notice and escalation_dm",
    "support.jobs.post_card": "I/O: posts transfer_card and transcript_messages",
    "support.listeners.register_support": "Bolt wiring",
    "support.jobs.relay": "I/O: posts transcript_line",
    "support.jobs.update_card": "I/O: posts transfer_card",
    "text.clean": "removes invisible characters (test_slack_text_primitives.py)",
    "text.plain": "clean + clip for plain_text (test_slack_text_primitives.py)",
    "text.clip": "shortens text (test_slack_text_primitives.py)",
    "text.split_text": "splits text for inputs and sections",
    "text.message_text": "reads what a person typed in Slack (the other direction)",
    "support.feedback_jobs.post_feedback": "I/O: posts feedback_text",
    "recycle_notice.recycle_notice": "I/O: posts recycle_text",
    **ASSISTANT_NOT_BUILDERS,
}
# Modules with no text for people: Bolt/FastAPI wiring, Web API plumbing, store reads, the
# answer budget.
NO_TEXT_MODULES = {"app", "web", "store", "message_log", "ack_budget"}


def _public_functions() -> list[str]:
    """`module.function` for every public function defined in slack_app, sub-packages too
    (`blocks.card.approval_card`, `support.jobs.relay`)."""
    names = []
    for info in pkgutil.walk_packages(slack_app.__path__, "slack_app."):
        key = info.name.removeprefix("slack_app.")
        if key in NO_TEXT_MODULES:
            continue
        module = importlib.import_module(info.name)
        names += [f"{key}.{name}" for name, fn in inspect.getmembers(module, inspect.isfunction)
                  if fn.__module__ == module.__name__ and not name.startswith("_")]
    return sorted(names)


def test_every_function_is_a_covered_builder_or_says_why_not() -> None:
    known = RECIPES.keys() | DELEGATES.keys() | NOT_BUILDERS.keys()
    unclassified = [name for name in _public_functions() if name not in known]
    assert not unclassified, (
        f"new public functions in slack_app: {unclassified}. If one returns text, blocks or a "
        "view, add a recipe to RECIPES (hostile input in every field); otherwise say why in "
        "NOT_BUILDERS.")
    stale = sorted(known - set(_public_functions()))
    assert not stale, f"classified functions that no longer exist: {stale}"
    assert all(target in RECIPES or target in DELEGATES for target in DELEGATES.values())


# -- the walk -----------------------------------------------------------------------------------

def _outputs(produced: list[Any]) -> list[tuple[str, Any]]:
    """Each output as (kind, payload): `text` (a top-level message text), `blocks`, `view`."""
    out: list[tuple[str, Any]] = []
    for item in produced:
        if item is None:
            continue
        if isinstance(item, tuple):  # (fallback text, blocks)
            out += [("text", item[0]), ("blocks", item[1])]
        elif isinstance(item, str):
            out.append(("text", item))
        elif isinstance(item, list):
            out += _outputs(item)
        elif item.get("type") in ("modal", "home"):
            out.append(("view", item))
        else:
            out.append(("blocks", [item]))
    return out


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_builder_output_is_inert_for_every_hostile_string(name: str) -> None:
    for hostile in STRINGS:
        outputs = _outputs(RECIPES[name](hostile))
        assert outputs, f"{name} produced nothing"
        for kind, payload in outputs:
            found = violations(payload, channels=[SUPPORT_CHANNEL])
            assert not found, f"{name}({hostile!r}) {kind}: {found[:5]}"


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_builder_output_is_valid_block_kit(name: str) -> None:
    """Slack's SDK models accept every block and view (lengths, counts, element kinds)."""
    for kind, payload in _outputs(RECIPES[name](HOSTILE_ALL * 20)):
        if kind == "view":
            View(**payload).validate_json()
            assert len(payload["blocks"]) <= 100  # modals and the Home tab alike
        elif kind == "blocks":
            assert len(payload) <= 50
            for block in payload:
                parsed = Block.parse(block)
                assert parsed is not None, block
                parsed.validate_json()
        else:
            assert len(payload) <= 40_000


def test_hostile_text_is_shown_not_lost() -> None:
    """Inert is not blank: what the lead wrote is still readable on the card."""
    card_text, shown = card.approval_card(card.CardFacts(
        approval("Ada <!channel> & *Co*", draft={"to": "ada@acme.io", "subject": "Hi",
                                                  "body": "Body <@U0ADMIN>"}),
        lead("Ada"), NOW))
    texts = [b["text"]["text"] for b in shown if b.get("text")]
    assert texts[0] == "Ada Ada · Ada — approval v2"
    assert "*Why now*\nAda &lt;!channel&gt; &amp; \u2217Co\u2217" in texts
    assert "Body <@U0ADMIN>" in texts  # the draft body in plain_text: exactly what is sent
    assert card_text == "Approval v2 for Ada Ada · Ada: awaiting your decision"


def test_the_apps_own_mentions_and_dates_stay_live() -> None:
    line = card.outcome_text(approval("x", status="escalated", decided_by="U0REP0001"),
                             decision("x"))
    assert line is not None
    assert line.startswith(":arrow_up: *Escalated* by <@U0REP0001> <!date^")
    assert "\n<@U0MGR0001> holds it now." in line
    notice = support_blocks.escalation_notice("U0SUP0001", 12)
    assert notice.startswith(":rotating_light: <@U0SUP0001> nobody has claimed")
    _, dm = support_blocks.escalation_dm(package("x"), SUPPORT_CHANNEL, 12)
    assert f"in <#{SUPPORT_CHANNEL}> has waited for 12 minutes" in dm[0]["text"]["text"]
