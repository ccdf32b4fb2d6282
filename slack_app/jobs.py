"""The Slack side effects, as durable jobs the worker runs (sync, on its threads).

- `slack_post_approval {approval_id}`: post the card (DM to the assignee, or the approvals
  channel), in the previous version's thread when the same person holds it, else as a new card
  followed by the full history in its thread; then mark the previous card superseded.
- `slack_update_card {approval_id}`: re-render a card in place (`chat.update`) after a decision.
- `slack_post_reply {channel, thread_ts, text}`: a thread reply (answers to questions).
- `slack_redact_lead {lead_id}`: after an erasure, replace the lead's cards with a notice.

Each handler is idempotent: it may run again after a crash or a retry without posting twice
what was recorded as posted. Transient Slack failures raise `RetryLater` (see `slack_app.web`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient

from service.runtime import AppRuntime
from slack_app import store
from slack_app.blocks import history_messages
from slack_app.cards import load_approval, load_lead, render, slack_user_for
from slack_app.decisions import record_decision_job
from slack_app.web import GONE_ERRORS, SlackCallFailed, call, dm_channel, web_client

log = logging.getLogger(__name__)


def _destination(rt: AppRuntime, client: WebClient, assignee: str) -> str | None:
    slack_id = slack_user_for(rt, assignee)
    if slack_id:
        return dm_channel(rt, client, slack_id)
    return rt.settings.slack_approvals_channel


def post_approval(rt: AppRuntime, payload: dict[str, Any]) -> None:
    approval_id = payload["approval_id"]
    approval, cards = store.approval_and_cards(rt, approval_id)
    if approval is None:
        return  # erased before its card went out
    client = web_client(rt)
    version = int(approval["version"])
    card = next((c for c in cards if c.approval_id == approval_id), None)
    previous = [c for c in cards if c.version < version]
    prev = previous[-1] if previous else None

    if card is None:
        if any(c.version > version for c in cards):
            return  # a newer version is already carded; an old card would only confuse
        channel = _destination(rt, client, approval["assignee"])
        if channel is None:
            log.warning("approval %s: assignee %s has no Slack id and "
                        "HITL_SLACK_APPROVALS_CHANNEL is not set; no card posted",
                        approval_id, approval["assignee"])
            return
        in_thread = prev is not None and prev.channel == channel
        text, blocks = render(rt, approval)
        posted = call(client.chat_postMessage, channel=channel, text=text, blocks=blocks,
                      thread_ts=prev.thread_ts if in_thread and prev else None,
                      unfurl_links=False, unfurl_media=False)
        ts = str(posted["ts"])
        card, status = store.save_card(rt, store.CardLocation(
            approval_id=approval_id, handoff_id=approval["handoff_id"],
            lead_id=approval["lead_id"], version=version, assignee=approval["assignee"],
            channel=str(posted.get("channel") or channel), ts=ts,
            thread_ts=prev.thread_ts if in_thread and prev else ts,
            # A new card for a later version (an escalation) carries the history in its thread.
            history_posted=in_thread or version == 1))
        if approval["status"] != "pending" or status != "pending":
            update_card(rt, {"approval_id": approval_id})  # decided while we were posting

    if not card.history_posted:
        _post_history(rt, client, approval, card)
        store.mark_history_posted(rt, approval_id)

    if prev is not None:
        update_card(rt, {"approval_id": prev.approval_id})  # now shows "superseded by vN"


def _post_history(rt: AppRuntime, client: WebClient, approval: dict[str, Any],
                  card: store.CardLocation) -> None:
    since = rt.clock.now() - timedelta(days=rt.policy.scoring.window_days)
    signals, total = store.handoff_signals(rt, approval["lead_id"], since=since)
    versions = [v for v in store.handoff_versions(rt, approval["handoff_id"])
                if v["approval"]["version"] < approval["version"]]
    for text, blocks in history_messages(load_lead(rt, approval["lead_id"]), signals, versions,
                                         total_signals=total):
        call(client.chat_postMessage, channel=card.channel, thread_ts=card.ts, text=text,
             blocks=blocks, unfurl_links=False, unfurl_media=False)


def update_card(rt: AppRuntime, payload: dict[str, Any]) -> None:
    approval_id = payload["approval_id"]
    card = store.get_card(rt, approval_id)
    if card is None:
        return  # not posted yet: the post job renders the state as it is then
    approval = load_approval(rt, approval_id)
    if approval is None:
        return  # erased; `slack_redact_lead` handles the card
    text, blocks = render(rt, approval, card)
    try:
        call(web_client(rt).chat_update, channel=card.channel, ts=card.ts, text=text,
             blocks=blocks)
    except SlackCallFailed as exc:
        if exc.error not in GONE_ERRORS:
            raise
        log.warning("card for %s cannot be updated (%s); leaving it", approval_id, exc.error)
        return
    store.touch_card(rt, approval_id)


def post_reply(rt: AppRuntime, payload: dict[str, Any]) -> None:
    call(web_client(rt).chat_postMessage, channel=payload["channel"],
         thread_ts=payload["thread_ts"], text=payload["text"], unfurl_links=False,
         unfurl_media=False)


def redact_lead(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """Replace every card of an erased lead with a notice, then forget where they were."""
    client = web_client(rt)
    cards = store.cards_for_lead(rt, payload["lead_id"])
    notice = "This lead's personal data was erased on request."
    for card in cards:
        try:
            call(client.chat_update, channel=card.channel, ts=card.ts, text=notice,
                 blocks=[{"type": "section", "text": {"type": "mrkdwn",
                                                      "text": f":wastebasket: {notice}"}}])
        except SlackCallFailed as exc:
            if exc.error not in GONE_ERRORS:
                raise
        store.forget_cards(rt, [card.approval_id])


def _mention(rt: AppRuntime, key: str | None) -> str:
    slack_id = slack_user_for(rt, key)
    return f"<@{slack_id}>" if slack_id else (key or "someone")


def sla_reminder(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """First SLA breach: nudge the owner in the card's thread (or by DM if it has none)."""
    approval = load_approval(rt, payload["approval_id"])
    if approval is None or approval["status"] != "pending":
        return  # decided meanwhile: nothing to nudge
    client = web_client(rt)
    due = approval["sla_due_at"]
    when = f"<!date^{int(due.timestamp())}^{{time}}|{due:%H:%M} UTC>" if due else "its SLA"
    text = (f":alarm_clock: {_mention(rt, approval['assignee'])} this card passed its SLA "
            f"({when}). Decide, or escalate it if you can't work it; left untouched it is "
            "reassigned.")
    card = store.get_card(rt, payload["approval_id"])
    if card is not None:
        call(client.chat_postMessage, channel=card.channel, thread_ts=card.ts, text=text)
        return
    channel = _destination(rt, client, approval["assignee"])
    if channel is not None:
        call(client.chat_postMessage, channel=channel, text=text)


def sla_escalation(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """Second breach: tell the manager, and say on the old card who holds the lead now."""
    approval = load_approval(rt, payload["approval_id"])
    if approval is None:
        return
    decision = (store.decision_view(rt, payload["approval_id"]) or {}).get("payload", {})
    client = web_client(rt)
    lead = load_lead(rt, approval["lead_id"]) or {}
    who = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p) or "a lead"
    text = (f":rotating_light: SLA missed twice on {who} ({lead.get('company') or 'unknown'}): "
            f"reassigned from {_mention(rt, decision.get('previous_owner'))} to "
            f"{_mention(rt, decision.get('escalate_to'))} with a refreshed package.")
    manager = slack_user_for(rt, decision.get("manager"))
    if manager:
        call(client.chat_postMessage, channel=dm_channel(rt, client, manager), text=text)
    card = store.get_card(rt, payload["approval_id"])
    if card is not None:
        call(client.chat_postMessage, channel=card.channel, thread_ts=card.ts, text=text)


SLACK_JOB_HANDLERS: dict[str, Callable[[AppRuntime, dict[str, Any]], None]] = {
    "slack_sla_reminder": sla_reminder,
    "slack_sla_escalation": sla_escalation,
    "slack_post_approval": post_approval,
    "slack_update_card": update_card,
    "slack_post_reply": post_reply,
    "slack_redact_lead": redact_lead,
    "slack_record_decision": record_decision_job,
}
