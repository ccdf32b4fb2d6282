"""Bolt listeners: translate Slack interactions into service calls, and service answers into
Slack replies. They decide nothing themselves; `service.approvals.decide` does.

Rules kept everywhere here:
- `ack()` first (Slack wants it within 3 s); the work runs after, in the same process.
- Sync service calls run in a thread (`asyncio.to_thread`) so the event loop keeps acking.
- Users see our own words, never exception text; unexpected errors are logged.
- Nothing is kept in process memory between requests: cards and receipts are in the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from service.approvals import get_approval
from service.errors import NotFound
from service.jobs import enqueue
from service.runtime import AppRuntime
from service.schemas import DecisionIn
from slack_app import store
from slack_app.ack_budget import within_budget
from slack_app.answers import answer_question, is_question
from slack_app.blocks.card import (
    ACTION_APPROVE,
    ACTION_EDIT,
    ACTION_ESCALATE,
    ACTION_REJECT,
    as_datetime,
    parse_button_value,
)
from slack_app.blocks.modals import (
    VIEW_EDIT,
    VIEW_ESCALATE,
    VIEW_REJECT,
    edit_modal,
    escalate_modal,
    reject_modal,
)
from slack_app.decisions import (
    GENERIC_FAILURE,
    DecisionInbox,
    actor_for_slack_user,
    conflict_text,
    decision_payload,
    forbidden_text,
)
from slack_app.home import home_for
from slack_app.text import message_text, plain, text_blocks

log = logging.getLogger(__name__)

MAX_INSTRUCTION = 2000


# -- shared steps ------------------------------------------------------------------------------

async def resolve_actor(rt: AppRuntime, client: AsyncWebClient, user_id: str) -> str:
    """The roster key for a Slack user, from the event loop (`actor_for_slack_user` in a
    thread); the roster answers most clicks without that thread hop."""
    member = rt.roster.by_slack_id(user_id)
    if member is not None:
        return member.key
    return await asyncio.to_thread(actor_for_slack_user, rt, user_id)


async def ephemeral(client: AsyncWebClient, channel: str | None, user: str, text: str,
                    thread_ts: str | None = None) -> None:
    """A message only `user` sees. Best effort: it informs, it never carries a decision."""
    if not channel:
        log.info("no channel for an ephemeral reply to %s: %s", user, text)
        return
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text,
                                        blocks=text_blocks(text), thread_ts=thread_ts)
    except SlackApiError as exc:
        log.warning("chat.postEphemeral to %s failed: %s", user, exc.response.get("error"))


async def queue_decision(inbox: DecisionInbox, client: AsyncWebClient, approval_id: str,
                         decision: DecisionIn, *, context: Any, user: str, channel: str | None,
                         thread_ts: str | None = None) -> bool:
    """Put the decision on disk (the worker records it; see slack_app.decisions). True when
    queued or still being queued when Slack's answer had to go (slack_app.ack_budget);
    otherwise the person is told that nothing changed."""
    try:
        if not await within_budget(inbox.put(decision_payload(
                approval_id, decision, slack_user=user, channel=channel, thread_ts=thread_ts)),
                context):
            log.warning("queueing a Slack %s on %r outlasted the answer budget; answering "
                        "Slack first", decision.action, approval_id)
        return True
    except Exception:
        log.exception("queueing a Slack %s on %r failed", decision.action, approval_id)
        await ephemeral(client, channel, user, GENERIC_FAILURE, thread_ts)
        return False


def precheck(rt: AppRuntime, approval_id: str, actor: str) -> tuple[dict[str, Any] | None, str]:
    """Before opening a modal: may this actor decide this approval now? (approval, refusal)."""
    try:
        approval = get_approval(rt, approval_id)
    except NotFound:
        return None, "This approval no longer exists (the lead may have been erased)."
    member = rt.roster.find(actor)
    if member is None or (member.role != "manager" and member.key != approval["assignee"]):
        return None, forbidden_text(rt, approval_id)
    if approval["status"] != "pending":
        return None, conflict_text(rt, approval_id, member.key)
    return approval, ""


def build_decision(**fields: Any) -> DecisionIn:
    """The service's input model, validated exactly as the HTTP API validates it."""
    return DecisionIn.model_validate(fields)


def _where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(channel, thread root) of the message a button sits on."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    message = body.get("message") or {}
    return channel, message.get("thread_ts")


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _value(values: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    return (values.get(block) or {}).get(action) or {}


def _field_errors(exc: ValidationError, blocks: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err.get("loc") else ""
        block = blocks.get(name) or next(iter(blocks.values()))
        errors.setdefault(block, plain(str(err["msg"]).removeprefix("Value error, "), 150))
    return errors


# -- registration ------------------------------------------------------------------------------

def register(bolt: AsyncApp, rt: AppRuntime) -> None:
    """Attach every listener to `bolt`. Explicit, so importing this module does nothing."""

    inbox = DecisionInbox(rt)

    @bolt.action(ACTION_APPROVE)
    async def on_approve(ack: Any, body: dict[str, Any], client: AsyncWebClient,
                         context: Any) -> None:
        user = body["user"]["id"]
        channel, thread_ts = _where(body)
        parsed = parse_button_value((body.get("actions") or [{}])[0].get("value"))
        if parsed is None:
            await ack()
            await ephemeral(client, channel, user, "This button is not from a current card.")
            return
        # On disk first, then the answer: a click Slack saw accepted is never lost.
        await queue_decision(inbox, client, parsed[0],
                             build_decision(action="approve", actor=user), context=context,
                             user=user, channel=channel, thread_ts=thread_ts)
        await ack()

    async def open_modal(ack: Any, body: dict[str, Any], client: AsyncWebClient,
                         build: Any) -> None:
        await ack()
        user = body["user"]["id"]
        channel, thread_ts = _where(body)
        parsed = parse_button_value((body.get("actions") or [{}])[0].get("value"))
        if parsed is None:
            await ephemeral(client, channel, user, "This button is not from a current card.")
            return
        actor = await resolve_actor(rt, client, user)
        # Authorization before the modal opens: a stranger never gets a form to fill in.
        approval, refusal = await asyncio.to_thread(precheck, rt, parsed[0], actor)
        if approval is None:
            await ephemeral(client, channel, user, refusal, thread_ts)
            return
        try:
            await client.views_open(trigger_id=body["trigger_id"],
                                    view=build(approval, channel, thread_ts))
        except SlackApiError as exc:  # e.g. expired_trigger_id after a very slow round trip
            log.warning("views.open failed: %s", exc.response.get("error"))
            await ephemeral(client, channel, user, "Slack could not open the form in time; "
                            "please click the button again.", thread_ts)

    @bolt.action(ACTION_EDIT)
    async def on_edit(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await open_modal(ack, body, client, edit_modal)

    @bolt.action(ACTION_REJECT)
    async def on_reject(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await open_modal(ack, body, client, reject_modal)

    @bolt.action(ACTION_ESCALATE)
    async def on_escalate(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await open_modal(ack, body, client, escalate_modal)

    async def submit(ack: Any, request: dict[str, Any], client: AsyncWebClient, context: Any,
                     meta: dict[str, Any], blocks: dict[str, str], **fields: Any) -> None:
        """A modal's decision: field errors go back into the modal (`blocks` maps decision
        fields to the modal's block ids); otherwise queue the decision, then close the modal."""
        user = request["user"]["id"]
        try:
            decision = build_decision(actor=user, **fields)
        except ValidationError as exc:
            await ack(response_action="errors", errors=_field_errors(exc, blocks))
            return
        await queue_decision(inbox, client, str(meta.get("approval_id")), decision,
                             context=context, user=user,
                             channel=meta.get("channel"), thread_ts=meta.get("thread_ts"))
        await ack()

    @bolt.view(VIEW_EDIT)
    async def on_edit_submit(ack: Any, body: dict[str, Any], view: dict[str, Any],
                             client: AsyncWebClient, context: Any) -> None:
        meta = _metadata(view)
        values = (view.get("state") or {}).get("values") or {}
        subject = _value(values, "subject", "subject").get("value") or ""
        parts = [_value(values, f"body_{i}", "body").get("value") or ""
                 for i in range(int(meta.get("parts") or 1))]
        joiners = list(meta.get("joiners") or []) + ["\n\n"] * len(parts)
        text = parts[0] + "".join(j + p for j, p in zip(joiners, parts[1:], strict=False))
        await submit(ack, body, client, context, meta, {"subject": "subject", "body": "body_0"},
                     action="edit", subject=subject, body=text)

    @bolt.view(VIEW_REJECT)
    async def on_reject_submit(ack: Any, body: dict[str, Any], view: dict[str, Any],
                               client: AsyncWebClient, context: Any) -> None:
        meta = _metadata(view)
        values = (view.get("state") or {}).get("values") or {}
        reason = (_value(values, "reason", "reason_code").get("selected_option") or {}).get("value")
        note = _value(values, "note", "note").get("value") or None
        await submit(ack, body, client, context, meta, {"reason_code": "reason", "note": "note"},
                     action="reject", reason_code=reason, note=note)

    @bolt.view(VIEW_ESCALATE)
    async def on_escalate_submit(ack: Any, body: dict[str, Any], view: dict[str, Any],
                                 client: AsyncWebClient, context: Any) -> None:
        meta = _metadata(view)
        values = (view.get("state") or {}).get("values") or {}
        target = _value(values, "target", "escalate_to").get("selected_user") or None
        note = _value(values, "note", "note").get("value") or None
        if target and rt.roster.find(target) is None:
            await ack(response_action="errors", errors={
                "target": "That person is not on the team roster; pick a teammate, or leave "
                          "it empty to hand it to a manager."})
            return
        await submit(ack, body, client, context, meta, {"escalate_to": "target", "note": "note"},
                     action="escalate", escalate_to=target, note=note)

    @bolt.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any],
                         client: AsyncWebClient) -> None:
        # Only people's plain replies inside a thread; edits, joins, bots and roots are not ours.
        if event.get("bot_id") or event.get("subtype") or not event.get("user"):
            return
        ts, thread_ts, channel = event.get("ts"), event.get("thread_ts"), event.get("channel")
        text = message_text(event.get("text") or "").strip()
        if not (ts and thread_ts and channel and text) or thread_ts == ts:
            return
        cards = await asyncio.to_thread(store.cards_in_thread, rt, channel, thread_ts)
        if not cards:
            return
        keys = [f"msg:{channel}:{ts}"]
        if body.get("event_id"):
            keys.append(f"event:{body['event_id']}")
        if event.get("client_msg_id"):
            keys.append(f"client_msg:{event['client_msg_id']}")
        # A retried delivery (X-Slack-Retry-Num) finds its receipt and changes nothing.
        if not await asyncio.to_thread(store.claim_delivery, rt, keys):
            return
        try:
            await thread_reply(rt, inbox, client, cards[0], event["user"], channel, thread_ts,
                               ts, text)
        except (SQLAlchemyError, SlackApiError, OSError, DecisionNotQueued):
            log.exception("thread reply %s in %s failed; Slack's retry may redo it", ts, channel)
            await asyncio.to_thread(store.release_delivery, rt, keys)

    @bolt.event("app_home_opened")
    async def on_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user = event["user"]
        actor = await resolve_actor(rt, client, user)
        view = await asyncio.to_thread(home_for, rt, rt.roster.find(actor))
        try:
            await client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("views.publish for %s failed: %s", user, exc.response.get("error"))

    @bolt.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack listener failed on a %s request: %r", body.get("type"), error)


class DecisionNotQueued(Exception):
    """The decision could not be put on disk (the person was told nothing changed)."""


async def thread_reply(rt: AppRuntime, inbox: DecisionInbox, client: AsyncWebClient,
                       card: store.CardLocation, user: str, channel: str, thread_ts: str,
                       ts: str, text: str) -> None:
    """A person's reply in a card's thread: a question gets an answer, anything else from the
    assignee (or a manager) is a revise instruction for the newest version. Others are ignored."""
    approval = await asyncio.to_thread(store.latest_version, rt, card.handoff_id)
    if approval is None:
        return
    actor = await resolve_actor(rt, client, user)
    member = rt.roster.find(actor)
    if member is None or (member.role != "manager" and member.key != approval["assignee"]):
        return  # colleagues may chat in the thread; only the holder's words steer the draft
    if is_question(text):
        answer = answer_question(text, approval.get("context") or {},
                                 sla_due_at=as_datetime(approval.get("sla_due_at")))
        await asyncio.to_thread(queue_reply, rt, channel, thread_ts, answer, ts)
        return
    instruction = text[:MAX_INSTRUCTION]
    if not await queue_decision(inbox, client, approval["approval_id"],
                                build_decision(action="revise", actor=actor,
                                               instruction=instruction),
                                # An event is answered before its listener runs: no budget,
                                # and a failed write releases the delivery for Slack's retry.
                                context=None, user=user, channel=channel, thread_ts=thread_ts):
        raise DecisionNotQueued(approval["approval_id"])  # Slack's retry may redo it


def queue_reply(rt: AppRuntime, channel: str, thread_ts: str, text: str, key: str) -> None:
    """Thread replies go out through the job queue: retried on 429/5xx, never lost."""
    with rt.db.session() as session:
        enqueue(session, "slack_post_reply",
                {"channel": channel, "thread_ts": thread_ts, "text": text},
                now=rt.clock.now(), dedupe_key=f"slack_reply:{channel}:{key}")
    rt.notify_work()
