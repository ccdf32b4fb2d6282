"""The Slack side effects, as durable jobs the worker runs (sync, on its threads).

- `slack_post_approval {approval_id}`: post the card (DM to the assignee, or the approvals
  channel), in the previous version's thread when the same person holds it, else as a new card
  followed by the full history in its thread; then mark the previous card superseded.
- `slack_update_card {approval_id}`: re-render a card in place (`chat.update`) after a decision.
- `slack_post_reply {channel, thread_ts, text}`: a thread reply (answers to questions).
- `slack_redact_lead {lead_id}`: after an erasure, replace the lead's cards with a notice (jobs
  queued before the message log existed; erasures now queue `slack_redact_messages`).
- `slack_redact_messages {erasure_id}`: after an erasure, replace every message the app posted
  about the person (`slack_message_log`) with a notice, one `chat.update` each.

Every handler runs under `message_log.posting_for`, so each message it posts is logged with
the lead or conversation it is about.

Each handler is idempotent: it may run again after a crash or a retry without posting twice
what was recorded as posted. Transient Slack failures raise `RetryLater` (see `slack_app.web`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient

from service.jobs import running_attempt
from service.runtime import AppRuntime
from slack_app import message_log, store
from slack_app.blocks.card import approval_on
from slack_app.blocks.history import history_messages
from slack_app.blocks.notices import erased_card, sla_escalation_text, sla_reminder_text
from slack_app.cards import load_approval, load_lead, render, slack_user_for
from slack_app.decisions import record_decision_job
from slack_app.home import home_for, viewers_after_erasure
from slack_app.send_status import notify_send_failed
from slack_app.support.jobs import SUPPORT_SLACK_JOB_HANDLERS
from slack_app.web import (
    GONE_ERRORS,
    SlackCallFailed,
    call,
    call_unlogged,
    dm_channel,
    update_until_current,
    web_client,
)

log = logging.getLogger(__name__)

POST_APPROVAL = "slack_post_approval"


def _destination(rt: AppRuntime, client: WebClient, assignee: str) -> str | None:
    slack_id = slack_user_for(rt, assignee)
    if slack_id:
        return dm_channel(rt, client, slack_id)
    return rt.settings.slack_approvals_channel


def post_approval(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """One read (the approval, its handoff's cards, the new card's facts), the post, then one
    write (the card's row and the message log's row for it, committed together)."""
    approval_id = payload["approval_id"]
    # Core statements on a read connection: the card job needs no ORM Session.
    with rt.db.read_connection() as connection:
        read = store.card_read_on(connection, approval_id)
    approval, cards = read.approval, read.cards
    if approval is None:
        return  # erased before its card went out
    version = int(approval["version"])
    card = next((c for c in cards if c.approval_id == approval_id), None)
    newer_carded = any(c.version > version for c in cards)
    # Rendered from what was read (no read of its own).
    text, blocks = (render(rt, approval, read=read) if card is None and not newer_carded
                    else ("", []))
    # Every message posted below (the card, its history) is about this lead.
    with message_log.posting_about(rt, POST_APPROVAL, message_log.Subject(
            lead_id=approval["lead_id"])):
        _post_approval(rt, approval, cards, card, (text, blocks))


def _post_approval(rt: AppRuntime, approval: dict[str, Any], cards: list[store.CardLocation],
                   card: store.CardLocation | None,
                   rendered: tuple[str, list[dict[str, Any]]]) -> None:
    approval_id = approval["approval_id"]
    client = web_client(rt)
    version = int(approval["version"])
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
        text, blocks = rendered
        thread_ts = prev.thread_ts if in_thread and prev else None
        posted = (running_attempt() > 1 and _posted_before(client, channel, thread_ts,
                                                           approval_id)) or call_unlogged(
            client.chat_postMessage, channel=channel, text=text, blocks=blocks,
            thread_ts=thread_ts, unfurl_links=False, unfurl_media=False)
        card, status = _save_posted_card(rt, store.CardLocation(
            approval_id=approval_id, handoff_id=approval["handoff_id"],
            lead_id=approval["lead_id"], version=version, assignee=approval["assignee"],
            channel=str(posted.get("channel") or channel), ts=str(posted["ts"]),
            thread_ts=thread_ts or str(posted["ts"]),
            # A new card for a later version (an escalation) carries the history in its thread.
            history_posted=in_thread or version == 1), thread_ts)
        if approval["status"] != "pending" or status != "pending":
            update_card(rt, {"approval_id": approval_id})  # decided while we were posting

    if not card.history_posted:
        _post_history(rt, client, approval, card)
        store.mark_history_posted(rt, approval_id)

    if prev is not None:
        update_card(rt, {"approval_id": prev.approval_id})  # now shows "superseded by vN"


def _posted_before(client: WebClient, channel: str, thread_ts: str | None,
                   approval_id: str) -> dict[str, Any] | None:
    """The card an earlier attempt posted, if Slack has it. A `chat.postMessage` can take
    effect with its answer lost (a timeout, a crash before the card's row was saved); posting
    again would leave an orphan card that no decision updates and no erasure finds. Looked up
    on retries only (Slack's history reads are rate-limited more tightly than posts)."""
    try:
        if thread_ts:
            answer = call(client.conversations_replies, channel=channel, ts=thread_ts, limit=200)
        else:
            answer = call(client.conversations_history, channel=channel, limit=100)
    except SlackCallFailed as exc:  # an install without the history scopes: post as before
        log.warning("approval %s: cannot look for an earlier post (%s)", approval_id, exc.error)
        return None
    for message in answer.get("messages") or ():
        if approval_on(message.get("blocks") or []) == approval_id:
            return {"channel": channel, "ts": message["ts"]}
    return None


def _save_posted_card(rt: AppRuntime, card: store.CardLocation, thread_ts: str | None
                      ) -> tuple[store.CardLocation, str | None]:
    """Log the posted card (erasure's map of Slack) and record where it is, in one commit: a
    crash before it leaves neither, and the retry posts the card again as it always did."""
    context = message_log.current_context()
    assert context is not None
    # A Core write transaction (the same writer lock and BEGIN IMMEDIATE as a Session's):
    # both writes are prebuilt statements, nothing for the ORM's unit of work.
    with rt.db.transaction() as connection:
        _, erased = message_log.record_post_on(connection, context, channel=card.channel,
                                               ts=card.ts, thread_ts=thread_ts)
        saved = store.save_card_on(connection, card, now=rt.clock.now())
    if erased:
        message_log.after_late_post(context)
    return saved


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
    """Re-render the card from the store (`update_until_current`: a concurrent update cannot
    leave an older state showing)."""
    approval_id = payload["approval_id"]
    card = store.get_card(rt, approval_id)
    if card is None:
        return  # not posted yet: the post job renders the state as it is then

    def rendered() -> tuple[str, list[dict[str, Any]]] | None:
        approval = load_approval(rt, approval_id)
        return None if approval is None else render(rt, approval, card)  # None: erased

    def send(text: str, blocks: list[dict[str, Any]]) -> None:
        call(web_client(rt).chat_update, channel=card.channel, ts=card.ts, text=text,
             blocks=blocks)

    try:
        if not update_until_current(rendered, send):
            return  # erased; `slack_redact_lead` handles the card
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
    notice, blocks = erased_card()
    for card in cards:
        try:
            call(client.chat_update, channel=card.channel, ts=card.ts, text=notice,
                 blocks=blocks)
        except SlackCallFailed as exc:
            if exc.error not in GONE_ERRORS:
                raise
        store.forget_cards(rt, [card.approval_id])


REDACTED_TEXT = "This message was removed: the person's data was erased on request."


def redact_messages(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """Replace each message an erasure queued with a notice, forgetting each once Slack
    confirmed it (or it is gone from Slack): a retry after an outage resumes where it stopped.
    Then the Home tabs that may still list the person are published again, read from the store
    as it is now (`slack_app.home`; publishing a tab twice shows the same)."""
    client = web_client(rt)
    for channel, ts in message_log.pending_redactions(rt, payload["erasure_id"]):
        try:
            call(client.chat_update, channel=channel, ts=ts, text=REDACTED_TEXT,
                 blocks=[{"type": "section", "text": {"type": "mrkdwn",
                                                      "text": f":wastebasket: {REDACTED_TEXT}"}}])
        except SlackCallFailed as exc:
            if exc.error not in GONE_ERRORS:
                raise
        message_log.forget(rt, channel, ts)
    for member in viewers_after_erasure(rt, payload.get("assignees") or []):
        try:
            call(client.views_publish, user_id=member.slack_id, view=home_for(rt, member))
        except SlackCallFailed as exc:  # a deactivated user, say: their tab is nobody's now
            log.warning("erasure %s: the Home tab of %s was not published again: %s",
                        payload["erasure_id"], member.slack_id, exc.error)


def _holder(rt: AppRuntime, key: str | None) -> str | None:
    """A roster key as `who` should show it: the member's Slack id when there is one."""
    return slack_user_for(rt, key) or key


def sla_reminder(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """First SLA breach: nudge the owner in the card's thread (or by DM if it has none)."""
    approval = load_approval(rt, payload["approval_id"])
    if approval is None or approval["status"] != "pending":
        return  # decided meanwhile: nothing to nudge
    client = web_client(rt)
    text = sla_reminder_text(_holder(rt, approval["assignee"]), approval["sla_due_at"])
    card = store.get_card(rt, payload["approval_id"])
    if card is not None:
        call(client.chat_postMessage, channel=card.channel, thread_ts=card.ts, text=text,
             unfurl_links=False, unfurl_media=False)
        return
    channel = _destination(rt, client, approval["assignee"])
    if channel is not None:
        call(client.chat_postMessage, channel=channel, text=text, unfurl_links=False,
             unfurl_media=False)


def sla_escalation(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """Second breach: tell the manager, and say on the old card who holds the lead now."""
    approval = load_approval(rt, payload["approval_id"])
    if approval is None:
        return
    decision = (store.decision_view(rt, payload["approval_id"]) or {}).get("payload", {})
    client = web_client(rt)
    text = sla_escalation_text(load_lead(rt, approval["lead_id"]),
                               _holder(rt, decision.get("previous_owner")),
                               _holder(rt, decision.get("escalate_to")))
    manager = slack_user_for(rt, decision.get("manager"))
    if manager:
        call(client.chat_postMessage, channel=dm_channel(rt, client, manager), text=text,
             unfurl_links=False, unfurl_media=False)
    card = store.get_card(rt, payload["approval_id"])
    if card is not None:
        call(client.chat_postMessage, channel=card.channel, thread_ts=card.ts, text=text,
             unfurl_links=False, unfurl_media=False)


Handler = Callable[[AppRuntime, dict[str, Any]], None]


def logged(kind: str, handler: Handler) -> Handler:
    """`handler`, with every message it posts logged against the job's subject."""
    def run(rt: AppRuntime, payload: dict[str, Any]) -> None:
        with message_log.posting_for(rt, kind, payload):
            handler(rt, payload)

    run.__name__ = getattr(handler, "__name__", kind)
    return run


def slack_job_handlers() -> dict[str, Handler]:
    """Every durable job of the Slack surface, approvals and support, each logged so the
    messages it posts can be found again (erasure)."""
    return {**SLACK_JOB_HANDLERS,
            **{kind: logged(kind, handler)
               for kind, handler in SUPPORT_SLACK_JOB_HANDLERS.items()}}


SLACK_JOB_HANDLERS: dict[str, Handler] = {
    "slack_sla_reminder": logged("slack_sla_reminder", sla_reminder),
    "slack_sla_escalation": logged("slack_sla_escalation", sla_escalation),
    POST_APPROVAL: post_approval,  # logs its posts itself (one read, one write)
    "slack_update_card": update_card,
    "slack_post_reply": logged("slack_post_reply", post_reply),
    "slack_redact_lead": redact_lead,
    message_log.REDACT_JOB: redact_messages,
    "slack_record_decision": record_decision_job,
    "slack_send_failed": logged("slack_send_failed", notify_send_failed),
}
