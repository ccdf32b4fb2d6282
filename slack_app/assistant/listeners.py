"""Bolt listeners for the assistant: translate Slack into durable jobs; decide nothing.

- A person's message in a DM with the app (`message.im`), outside an approval card's thread,
  is a message to the assistant: the conversation is the DM thread (`channel:thread_ts`; a
  top-level DM starts one). It is put on disk as a `slack_assistant_ask` job *before* Bolt
  acknowledges the event (a listener middleware runs before Bolt's automatic ack), so an
  event Slack saw accepted survives a crash of the web process. A retried delivery finds its
  receipt and queues nothing.
- `assistant_thread_started`: the suggested prompts (cosmetic, best effort).
- Proposal buttons (Approve / Reject) and the feedback buttons: the decision goes on disk as
  a job, then the ack; the worker checks who clicked and calls the service.

Register with `register_assistant(bolt, rt)` before the approval listeners: Bolt runs only the
first listener that matches, and messages in card threads fall through to those.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from service.assistant import MAX_ASK_CHARS
from service.runtime import AppRuntime
from slack_app import store
from slack_app.ack_budget import within_budget
from slack_app.assistant.blocks import (
    ACTION_FEEDBACK,
    ACTION_PROPOSAL_APPROVE,
    ACTION_PROPOSAL_REJECT,
    SUGGESTED_PROMPTS,
    parse_feedback_value,
    parse_proposal_value,
)
from slack_app.assistant.jobs import ASK_JOB, DECIDE_JOB, FEEDBACK_JOB, queue_job
from slack_app.decisions import GENERIC_FAILURE
from slack_app.listeners import ephemeral
from slack_app.text import message_text

log = logging.getLogger(__name__)

_PROPOSAL_ACTION = re.compile(f"^(?:{ACTION_PROPOSAL_APPROVE}|{ACTION_PROPOSAL_REJECT})$")
_DECISION_OF = {ACTION_PROPOSAL_APPROVE: "approve", ACTION_PROPOSAL_REJECT: "reject"}


def is_person_dm(event: dict[str, Any]) -> bool:
    """A person's own new message in a DM with the app (not an edit, a join, a bot)."""
    return (event.get("type") == "message" and event.get("channel_type") == "im"
            and not event.get("subtype") and not event.get("bot_id")
            and bool(event.get("user")) and bool(event.get("channel"))
            and bool(event.get("ts")) and bool((event.get("text") or "").strip()))


def ask_payload(event: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """What the worker needs to answer: where, who, and the words (bounded; one character
    over the limit so the service can say the message is too long)."""
    text = message_text(event.get("text") or "").strip()[:MAX_ASK_CHARS + 1]
    return {"channel": event["channel"], "thread_ts": event.get("thread_ts") or event["ts"],
            "ts": event["ts"], "user": event["user"],
            "team": event.get("team") or body.get("team_id"), "text": text}


def delivery_keys(event: dict[str, Any], body: dict[str, Any]) -> list[str]:
    keys = [f"assistant:{event['channel']}:{event['ts']}"]
    if body.get("event_id"):
        keys.append(f"event:{body['event_id']}")
    if event.get("client_msg_id"):
        keys.append(f"client_msg:{event['client_msg_id']}")
    return keys


async def queue_click(rt: AppRuntime, client: AsyncWebClient, context: Any, kind: str,
                      payload: dict[str, Any]) -> None:
    """A click's job on disk within Slack's answer budget (slack_app.ack_budget); on failure
    the clicker is told that nothing changed."""
    try:
        if not await within_budget(asyncio.to_thread(queue_job, rt, kind, payload), context):
            log.warning("queueing a %s outlasted the answer budget; answering Slack first", kind)
    except Exception:
        log.exception("queueing a %s failed", kind)
        await ephemeral(client, payload.get("channel"), payload["user"], GENERIC_FAILURE,
                        payload.get("thread_ts"))


def _where(body: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(channel, message) of the message a button sits on."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    return channel, body.get("message") or {}


def register_assistant(bolt: AsyncApp, rt: AppRuntime) -> None:
    """Attach the assistant's listeners to `bolt`. Explicit, so importing does nothing."""

    async def queue_dm(body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> None:  # noqa: A002
        # Runs before Bolt acks the event; not calling next() passes the event on.
        event = body.get("event") or {}
        if not is_person_dm(event):
            return
        thread_ts = event.get("thread_ts")
        if thread_ts and await asyncio.to_thread(store.cards_in_thread, rt, event["channel"],
                                                 thread_ts):
            return  # a reply under an approval card: the approval listeners' conversation
        # On disk before the ack; an error here answers 500 and Slack delivers it again.
        await asyncio.to_thread(queue_job, rt, ASK_JOB, ask_payload(event, body),
                                receipts=delivery_keys(event, body))
        await next()

    @bolt.event("message", middleware=[queue_dm])
    async def on_dm() -> None:
        """Everything happened before the ack (queue_dm); the worker answers."""

    @bolt.event("assistant_thread_started")
    async def on_thread_started(event: dict[str, Any], client: AsyncWebClient) -> None:
        thread = event.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if not (channel and thread_ts):
            return
        try:
            await client.assistant_threads_setSuggestedPrompts(
                channel_id=channel, thread_ts=thread_ts, title="Ask about your leads",
                prompts=[dict(p) for p in SUGGESTED_PROMPTS])
        except SlackApiError as exc:
            log.info("assistant.threads.setSuggestedPrompts failed: %s",
                     exc.response.get("error"))

    @bolt.event("assistant_thread_context_changed")
    async def on_context_changed() -> None:
        """The channel the rep is looking at changed; answers do not depend on it."""

    @bolt.action(_PROPOSAL_ACTION)
    async def on_proposal(ack: Any, body: dict[str, Any], client: AsyncWebClient,
                          context: Any) -> None:
        user = body["user"]["id"]
        channel, message = _where(body)
        action = (body.get("actions") or [{}])[0]
        parsed = parse_proposal_value(action.get("value"))
        if parsed is None or _DECISION_OF.get(action.get("action_id", "")) != parsed[1] \
                or not channel or not message.get("ts"):
            await ack()
            await ephemeral(client, channel, user, "This button is not from a current answer.")
            return
        await queue_click(rt, client, context, DECIDE_JOB, {
            "proposal_id": parsed[0], "decision": parsed[1], "user": user, "channel": channel,
            "ts": message["ts"], "thread_ts": message.get("thread_ts"),
            "blocks": message.get("blocks") or [], "text": message.get("text")})
        await ack()

    @bolt.action(ACTION_FEEDBACK)
    async def on_feedback(ack: Any, body: dict[str, Any], client: AsyncWebClient,
                          context: Any) -> None:
        user = body["user"]["id"]
        channel, message = _where(body)
        parsed = parse_feedback_value((body.get("actions") or [{}])[0].get("value"))
        if parsed is None:
            await ack()
            await ephemeral(client, channel, user, "This button is not from a current answer.")
            return
        await queue_click(rt, client, context, FEEDBACK_JOB, {
            "reply_id": parsed[0], "helpful": parsed[1], "user": user, "channel": channel,
            "thread_ts": message.get("thread_ts")})
        await ack()
