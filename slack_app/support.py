"""The support surface in Slack: warm-transfer cards, their threads, and the people who take over.

- A transfer posts a card to `HITL_SLACK_SUPPORT_CHANNEL` (summary, trigger, sentiment, customer
  facts, what the bot tried, a `Claim` button) and the full transcript in its thread.
- `Claim` makes the clicker the owner (first click wins; later ones get an ephemeral "already
  claimed by <@U…>"). The owner's thread replies reach the customer (role `agent`); new customer
  messages arrive in the thread; `Resolve` ends the conversation, `Hand back` returns it to the
  bot with a note.
- Unclaimed past the policy's time, the thread mentions the support lead and the lead gets a DM.

Every Web API call is a durable job (`SUPPORT_SLACK_JOB_HANDLERS`, retried by the worker); the
listeners (`register_support`) only translate Slack into `service.conversations` calls. The
`message` listener has a matcher so it fires only in threads of transfer cards: register it
before the approval listeners, whose `message` listener takes every other thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, update

from agent.support.models import TRIGGER_LABELS, TranscriptLine, WarmTransfer
from agent.support.summary import intent_label
from service import conversations
from service.errors import Conflict, Forbidden, NotFound, ServiceError
from service.runtime import AppRuntime
from slack_app.text import (
    channel_link,
    clip,
    code,
    context,
    inert,
    mrkdwn,
    plain_text,
    section,
    slack_date,
    who,
)
from slack_app.web import GONE_ERRORS, SlackCallFailed, call, dm_channel, web_client
from store.tables import SupportMessage, SupportTransfer

log = logging.getLogger(__name__)

ACTION_CLAIM = "support_claim"
ACTION_RESOLVE = "support_resolve"
ACTION_HAND_BACK = "support_hand_back"
VIEW_HAND_BACK = "support_hand_back_modal"
TRANSCRIPT_CHUNK = 2800
_ROLE = {"customer": "Customer", "bot": "Bot", "agent": "Agent", "system": "System"}


# -- Block Kit (pure) -------------------------------------------------------------------------
# Customer text (names, messages, tickets, CRM facts) is hostile: it reaches Slack only through
# `slack_app.text` (`inert` in mrkdwn, `plain_text` objects elsewhere).

def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                               "text": plain_text(text, 75, emoji=True)}  # our own words
    if style:
        element["style"] = style
    return element


def _customer_text(package: WarmTransfer) -> str:
    c = package.customer
    head = [inert(c.name or c.email or "Unknown customer")]
    if c.email and c.name:
        head.append(inert(c.email))
    if c.company:
        head.append(inert(c.company))
    facts = []
    if c.employees:
        facts.append(f"{c.employees:,} employees" + (f" ({inert(c.segment)})" if c.segment
                                                     else ""))
    facts.append(f"plan: {inert(c.plan or 'unknown')}")
    value = {"high": ":star: high value", "standard": "standard value",
             "unknown": "value unknown (not in our records)"}[c.value]
    if c.value_reasons:
        value += f" ({inert('; '.join(c.value_reasons))})"
    facts.append(value)
    if c.account_owner:
        facts.append(f"account owner {who(c.account_owner)}")
    if c.previous_transfers:
        facts.append(f"{c.previous_transfers} earlier transfer(s)")
    lines = [f"*Customer*: {' · '.join(head)}", "• " + " · ".join(facts)]
    if c.open_tickets:
        tickets = "; ".join(inert(t.get("subject") or "untitled") for t in c.open_tickets)
        lines.append(f"• Open tickets ({len(c.open_tickets)}): {tickets}")
    else:
        lines.append("• Open tickets: none")
    if c.recent_activity:
        lines.append("• Recent activity: " + "; ".join(
            inert(a.get("detail")) for a in c.recent_activity[:3]))
    return "\n".join(lines)


def _tried_text(package: WarmTransfer) -> str:
    tried = package.bot_tried
    articles = tried.get("articles") or []
    shown = ", ".join(f"“{inert(a.get('title'))}”"
                      + (f" ×{inert(a['times_shown'])}" if a.get("times_shown", 1) > 1 else "")
                      for a in articles) or "no article"
    return (f"*What the bot already tried*: {inert(tried.get('answers', 0))} answer(s), "
            f"{inert(tried.get('misses', 0))} question(s) it could not answer; showed {shown}.")


def status_text(package: WarmTransfer) -> str:
    if package.status == "claimed":
        when = f" {slack_date(package.claimed_at)}" if package.claimed_at else ""
        return f":raising_hand: *Claimed* by {who(package.owner)}{when}: they own it now."
    if package.status == "resolved":
        when = f" {slack_date(package.closed_at)}" if package.closed_at else ""
        return f":white_check_mark: *Resolved* by {who(package.closed_by)}{when}."
    if package.status == "handed_back":
        when = f" {slack_date(package.closed_at)}" if package.closed_at else ""
        note = "\n> Note: " + inert(package.note).replace("\n", "\n> ") if package.note else ""
        return f":leftwards_arrow_with_hook: *Handed back to the bot* by " \
               f"{who(package.closed_by)}{when}.{note}"
    if package.escalated_at:
        return (f":rotating_light: *Unclaimed*: escalated to {who(package.escalated_to)} "
                f"{slack_date(package.escalated_at)}. The customer was told.")
    return ":hourglass_flowing_sand: *Waiting for someone to claim it.* The customer was told a "\
           "person is coming."


def _number(value: Any) -> str:
    try:
        return f"{float(value):+.2f}"
    except (TypeError, ValueError):
        return "?"


def transfer_card(package: WarmTransfer) -> tuple[str, list[dict[str, Any]]]:
    """The card for one warm transfer, as it stands (buttons follow the status)."""
    customer = package.customer.name or package.customer.email or "a customer"
    trigger = package.trigger
    also = [TRIGGER_LABELS[t].lower() for t in trigger.get("also") or [] if t in TRIGGER_LABELS]
    sentiment = package.sentiment
    fields = [
        f"*Trigger*\n{inert(trigger.get('label'))}: {inert(trigger.get('detail'))}"
        + (f"\n_also: {', '.join(also)}_" if also else ""),
        f"*Sentiment*\n{_number(sentiment.get('current', 0))} "
        f"({inert(sentiment.get('trend'))}), average {_number(sentiment.get('average', 0))}",
        f"*Intent*\n{inert(intent_label(package.intent))}",
        f"*Waiting since*\n{slack_date(package.waiting_since)}",
    ]
    steps = "\n".join(f"• {inert(s)}" for s in package.suggested_next_steps) or "• —"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain_text(f"Warm transfer: {customer}", 150)},
        section(f"*Summary*\n{inert(package.summary)}"),
        {"type": "section", "fields": [mrkdwn(f, 2000) for f in fields]},
        section(_customer_text(package)),
        section(_tried_text(package)),
        section(f"*Suggested next steps*\n{steps}\n*Suggested reply*\n>"
                + inert(package.suggested_reply).replace("\n", "\n>")),
        section(status_text(package)),
    ]
    value = package.handoff_id
    if package.status == "waiting":
        blocks.append({"type": "actions", "block_id": "support_actions", "elements": [
            _button("Claim", ACTION_CLAIM, value, "primary")]})
    elif package.status == "claimed":
        blocks.append({"type": "actions", "block_id": "support_actions", "elements": [
            _button("Resolve", ACTION_RESOLVE, value, "primary"),
            _button("Hand back to the bot", ACTION_HAND_BACK, value)]})
    blocks.append(context(
        f"Handoff {code(package.handoff_id)} · conversation "
        f"{code(package.conversation_id)} · policy {inert(package.policy_version or '?')} · "
        "the owner's replies in this thread go to the customer"))
    reason = TRIGGER_LABELS.get(str(trigger.get("reason")), "")
    text = clip(f"Warm transfer: {inert(customer)} ({reason}) - "
                f"{package.status.replace('_', ' ')}", 3000)
    return text, blocks


def transcript_line(line: TranscriptLine) -> str:
    role = _ROLE[line.role] + (f" {who(line.author)}" if line.role == "agent" and line.author
                               else "")
    text = inert(line.text).replace("\n", "\n>")
    return f"*{role}* {slack_date(line.at, '{time}')}\n>{text}"


def transcript_messages(lines: list[TranscriptLine]) -> list[str]:
    """The transcript as thread messages of at most TRANSCRIPT_CHUNK characters each."""
    out: list[str] = []
    current = f":scroll: *Full transcript* ({len(lines)} messages)"
    for line in lines:
        entry = clip(transcript_line(line), TRANSCRIPT_CHUNK)
        if len(current) + len(entry) + 2 > TRANSCRIPT_CHUNK:
            out.append(current)
            current = entry
        else:
            current = f"{current}\n\n{entry}"
    out.append(current)
    return out


def escalation_notice(lead: str | None, waited_minutes: int | None) -> str:
    """In the card's thread: the support lead (`lead`: Slack id or roster key) is called in."""
    waited = f" for {waited_minutes} minutes" if waited_minutes is not None else ""
    return (f":rotating_light: {who(lead)} nobody has claimed this conversation{waited}. "
            "The customer was told we are escalating it to you.")


def escalation_dm(package: WarmTransfer, channel: str | None, waited_minutes: int | None
                  ) -> tuple[str, list[dict[str, Any]]]:
    """The support lead's DM: an introduction, then the transfer card."""
    text, blocks = transfer_card(package)
    waited = f" for {waited_minutes} minutes" if waited_minutes is not None else ""
    where = f" in {link}" if (link := channel_link(channel)) else ""
    intro = section(f":rotating_light: An unclaimed warm transfer{where} has waited{waited}; "
                    "it was escalated to you.")
    return f"Escalated to you: {text}", [intro, *blocks]


def refusal_text(exc: ServiceError) -> str:
    """Why a support action changed nothing, in the clicker's terms."""
    if isinstance(exc, conversations.AlreadyClaimed):
        return f"This conversation is already claimed by {who(exc.owner)}. Nothing changed."
    if isinstance(exc, NotFound):
        return "This conversation no longer exists. Nothing changed."
    message = inert(exc.message, 1000)
    return f"{message[:1].upper()}{message[1:]}. Nothing changed."


def hand_back_modal(handoff_id: str, channel: str | None, thread_ts: str | None
                    ) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": VIEW_HAND_BACK,
        "private_metadata": json.dumps({"handoff_id": handoff_id, "channel": channel,
                                        "thread_ts": thread_ts}),
        "title": plain_text("Hand back to the bot", 24),
        "submit": plain_text("Hand back", 24),
        "close": plain_text("Cancel", 24),
        "blocks": [{"type": "input", "block_id": "note", "optional": True,
                    "label": plain_text("Note for the record (not shown to the customer)",
                                        2000),
                    "element": {"type": "plain_text_input", "action_id": "note",
                                "multiline": True, "max_length": 2000}}],
    }


# -- jobs (sync, on the worker's threads) -----------------------------------------------------

def _package(rt: AppRuntime, transfer_id: str) -> WarmTransfer | None:
    try:
        return WarmTransfer.model_validate(conversations.get_handoff(rt, transfer_id))
    except NotFound:
        return None


def _location(rt: AppRuntime, transfer_id: str) -> tuple[str | None, str | None, bool]:
    with rt.db.session() as session:
        t = session.get(SupportTransfer, transfer_id)
        if t is None:
            return None, None, False
        return t.slack_channel, t.slack_ts, t.transcript_posted


def post_card(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`support_post_card {transfer_id}`: the card, then the full transcript in its thread."""
    transfer_id = payload["transfer_id"]
    package = _package(rt, transfer_id)
    if package is None:
        return
    channel = rt.settings.slack_support_channel
    if not channel:
        log.warning("transfer %s: HITL_SLACK_SUPPORT_CHANNEL is not set; no card posted (the "
                    "unclaimed timer still alerts the support lead and tells the customer)",
                    transfer_id)
        return
    client = web_client(rt)
    posted_channel, ts, transcript_posted = _location(rt, transfer_id)
    if ts is None:
        text, blocks = transfer_card(package)
        posted = call(client.chat_postMessage, channel=channel, text=text, blocks=blocks,
                      unfurl_links=False, unfurl_media=False)
        posted_channel, ts = str(posted.get("channel") or channel), str(posted["ts"])
        with rt.db.session() as session:
            session.execute(update(SupportTransfer).where(
                SupportTransfer.id == transfer_id, SupportTransfer.slack_ts.is_(None)
            ).values(slack_channel=posted_channel, slack_ts=ts))
        posted_channel, ts, transcript_posted = _location(rt, transfer_id)
    if not transcript_posted and ts:
        # Read the transcript now: everything up to here is in it; later messages are relayed.
        with rt.db.session() as session:
            rows = list(session.scalars(select(SupportMessage).where(
                SupportMessage.conversation_id == package.conversation_id)
                .order_by(SupportMessage.id)))
            lines = [TranscriptLine(role=m.role, text=m.text, at=m.at, author=m.author)  # type: ignore[arg-type]
                     for m in rows]
            upto = rows[-1].id if rows else 0
        for chunk in transcript_messages(lines):
            call(client.chat_postMessage, channel=posted_channel, thread_ts=ts, text=chunk,
                 unfurl_links=False, unfurl_media=False)
        with rt.db.session() as session:
            session.execute(update(SupportMessage).where(
                SupportMessage.conversation_id == package.conversation_id,
                SupportMessage.id <= upto, SupportMessage.slack_ts.is_(None)
            ).values(slack_ts="transcript"))
            session.execute(update(SupportTransfer).where(SupportTransfer.id == transfer_id)
                            .values(transcript_posted=True))
    if package.status != "waiting" or package.escalated_at:
        update_card(rt, {"transfer_id": transfer_id})  # changed while we were posting


def update_card(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`support_update_card {transfer_id}`: re-render the card from the store (idempotent)."""
    transfer_id = payload["transfer_id"]
    channel, ts, _ = _location(rt, transfer_id)
    package = _package(rt, transfer_id)
    if package is None or ts is None or channel is None:
        return  # not posted yet: the post job renders the state as it is then
    text, blocks = transfer_card(package)
    try:
        call(web_client(rt).chat_update, channel=channel, ts=ts, text=text, blocks=blocks)
    except SlackCallFailed as exc:
        if exc.error not in GONE_ERRORS:
            raise
        log.warning("support card %s cannot be updated (%s)", transfer_id, exc.error)


def relay(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`support_relay {message_id}`: a customer message that arrived during the transfer, into
    the card's thread."""
    from service.jobs import RetryLater

    with rt.db.session() as session:
        message = session.get(SupportMessage, payload["message_id"])
        if message is None or message.slack_ts or not message.transfer_id:
            return
        transfer_id, line_ = message.transfer_id, TranscriptLine(
            role=message.role, text=message.text, at=message.at, author=message.author)  # type: ignore[arg-type]
    if not rt.settings.slack_support_channel:
        return
    channel, ts, transcript_posted = _location(rt, transfer_id)
    if ts is None or channel is None or not transcript_posted:
        raise RetryLater(f"transfer {transfer_id}: card or transcript not posted yet")
    posted = call(web_client(rt).chat_postMessage, channel=channel, thread_ts=ts,
                  text=transcript_line(line_), unfurl_links=False, unfurl_media=False)
    with rt.db.session() as session:
        session.execute(update(SupportMessage).where(SupportMessage.id == payload["message_id"])
                        .values(slack_ts=str(posted.get("ts") or "posted")))


def escalate_slack(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`support_escalate_slack {transfer_id}`: mention the support lead in the card's thread
    and DM them the card."""
    from slack_app.cards import slack_user_for

    transfer_id = payload["transfer_id"]
    package = _package(rt, transfer_id)
    if package is None or package.status != "waiting":
        return  # claimed or closed meanwhile: nothing to chase
    with rt.db.session() as session:
        t = session.get(SupportTransfer, transfer_id)
        if t is None or t.escalation_posted:
            return
    client = web_client(rt)
    lead = package.escalated_to
    lead_slack = slack_user_for(rt, lead)
    waited = None
    if package.escalated_at:
        waited = round((package.escalated_at - package.waiting_since).total_seconds() / 60)
    channel, ts, _ = _location(rt, transfer_id)
    if channel and ts:
        call(client.chat_postMessage, channel=channel, thread_ts=ts,
             text=escalation_notice(lead_slack or lead, waited),
             unfurl_links=False, unfurl_media=False)
    if lead_slack:
        text, blocks = escalation_dm(package, channel, waited)
        call(client.chat_postMessage, channel=dm_channel(rt, client, lead_slack),
             text=text, blocks=blocks, unfurl_links=False, unfurl_media=False)
    with rt.db.session() as session:
        session.execute(update(SupportTransfer).where(SupportTransfer.id == transfer_id)
                        .values(escalation_posted=True))
    update_card(rt, {"transfer_id": transfer_id})


SUPPORT_SLACK_JOB_HANDLERS: dict[str, Callable[[AppRuntime, dict[str, Any]], None]] = {
    "support_post_card": post_card,
    "support_update_card": update_card,
    "support_relay": relay,
    "support_escalate_slack": escalate_slack,
}


# -- listeners --------------------------------------------------------------------------------

def _where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    message = body.get("message") or {}
    return channel, message.get("thread_ts") or message.get("ts")


def register_support(bolt: AsyncApp, rt: AppRuntime) -> None:
    """Attach the support listeners to `bolt`. Call it before the approval surface's
    `register()`: Bolt runs the first matching listener, and the approval `message` listener
    matches every message."""
    from slack_app.listeners import GENERIC_FAILURE, ephemeral, resolve_actor
    from slack_app.store import claim_delivery, release_delivery

    async def act(body: dict[str, Any], client: AsyncWebClient,
                  work: Callable[[str, str], Any]) -> None:
        user = body["user"]["id"]
        channel, thread_ts = _where(body)
        transfer_id = str((body.get("actions") or [{}])[0].get("value") or "")
        actor = await resolve_actor(rt, client, user)
        try:
            await asyncio.to_thread(work, transfer_id, actor)
        except ServiceError as exc:
            await ephemeral(client, channel, user, refusal_text(exc), thread_ts)
        except Exception:
            log.exception("support action on %s failed", transfer_id)
            await ephemeral(client, channel, user, GENERIC_FAILURE, thread_ts)

    @bolt.action(ACTION_CLAIM)
    async def on_claim(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await act(body, client, lambda tid, actor: conversations.claim(rt, tid, actor))

    @bolt.action(ACTION_RESOLVE)
    async def on_resolve(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await act(body, client, lambda tid, actor: conversations.resolve(rt, tid, actor))

    @bolt.action(ACTION_HAND_BACK)
    async def on_hand_back(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        channel, thread_ts = _where(body)
        transfer_id = str((body.get("actions") or [{}])[0].get("value") or "")
        actor = await resolve_actor(rt, client, user)
        refusal = await asyncio.to_thread(_may_close, rt, transfer_id, actor)
        if refusal:
            await ephemeral(client, channel, user, refusal, thread_ts)
            return
        try:
            await client.views_open(trigger_id=body["trigger_id"],
                                    view=hand_back_modal(transfer_id, channel, thread_ts))
        except SlackApiError as exc:
            log.warning("views.open failed: %s", exc.response.get("error"))
            await ephemeral(client, channel, user, "Slack could not open the form in time; "
                            "please click the button again.", thread_ts)

    @bolt.view(VIEW_HAND_BACK)
    async def on_hand_back_submit(ack: Any, body: dict[str, Any], view: dict[str, Any],
                                  client: AsyncWebClient) -> None:
        await ack()
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        values = (view.get("state") or {}).get("values") or {}
        note = ((values.get("note") or {}).get("note") or {}).get("value")
        user = body["user"]["id"]
        actor = await resolve_actor(rt, client, user)
        try:
            await asyncio.to_thread(conversations.hand_back, rt, str(meta.get("handoff_id")),
                                    actor, note)
        except ServiceError as exc:
            await ephemeral(client, meta.get("channel"), user, refusal_text(exc),
                            meta.get("thread_ts"))

    async def in_transfer_thread(event: dict[str, Any]) -> bool:
        thread_ts, channel = event.get("thread_ts"), event.get("channel")
        if not thread_ts or not channel or thread_ts == event.get("ts"):
            return False
        found = await asyncio.to_thread(conversations.transfer_for_thread, rt, channel,
                                        thread_ts)
        return found is not None

    @bolt.event("message", matchers=[in_transfer_thread])
    async def on_thread_message(event: dict[str, Any], body: dict[str, Any],
                                client: AsyncWebClient) -> None:
        # People's plain replies only: our own relays, edits and joins are not the owner talking.
        if event.get("bot_id") or event.get("subtype") or not event.get("user"):
            return
        channel, thread_ts, ts = event["channel"], event["thread_ts"], event.get("ts")
        text = (event.get("text") or "").strip()
        if not ts or not text:
            return
        transfer_id = await asyncio.to_thread(conversations.transfer_for_thread, rt, channel,
                                              thread_ts)
        if transfer_id is None:
            return
        keys = [f"msg:{channel}:{ts}"]
        if body.get("event_id"):
            keys.append(f"event:{body['event_id']}")
        if not await asyncio.to_thread(claim_delivery, rt, keys):
            return  # a retried delivery: already relayed
        user = event["user"]
        actor = await resolve_actor(rt, client, user)
        try:
            await asyncio.to_thread(conversations.agent_reply, rt, transfer_id, actor, text,
                                    source_key=f"slack:{channel}:{ts}", slack_ts=ts)
        except Forbidden:
            return  # a colleague talking in the thread; only the owner speaks to the customer
        except Conflict as exc:
            await ephemeral(client, channel, user, refusal_text(exc), thread_ts)
        except Exception:
            log.exception("relaying %s in %s to the customer failed", ts, channel)
            await asyncio.to_thread(release_delivery, rt, keys)


def _may_close(rt: AppRuntime, transfer_id: str, actor: str) -> str | None:
    """Why `actor` may not close this transfer now (None: they may)."""
    try:
        package = WarmTransfer.model_validate(conversations.get_handoff(rt, transfer_id))
    except NotFound:
        return "This conversation no longer exists."
    member = rt.roster.find(actor)
    from service.support import support

    if member is None or member.role not in support(rt).policy.claim_roles:
        return "Only the support team can take over customer conversations. Nothing changed."
    if package.status not in ("waiting", "claimed"):
        return f"This conversation was already {package.status.replace('_', ' ')}."
    if package.status == "claimed" and package.owner != member.key and member.role != "manager":
        return f"Only the owner ({who(package.owner)}) or a manager can do that. Nothing changed."
    return None


