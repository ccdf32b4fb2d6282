"""The support surface's Bolt listeners: Claim / Resolve / Hand back, and the owner's replies
in a transfer card's thread. They translate Slack into `service.conversations` calls and decide
nothing themselves. The `message` listener has a matcher so it fires only in threads of
transfer cards: register it before the approval listeners, whose `message` listener takes every
other thread."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agent.support.models import TransferStatus, WarmTransfer
from service import conversations
from service.errors import Conflict, Forbidden, NotFound, ServiceError
from service.runtime import AppRuntime
from service.support import support
from slack_app.listeners import GENERIC_FAILURE, ephemeral, resolve_actor
from slack_app.store import claim_delivery, release_delivery
from slack_app.support.blocks import (
    ACTION_CLAIM,
    ACTION_HAND_BACK,
    ACTION_RESOLVE,
    VIEW_HAND_BACK,
    hand_back_modal,
    refusal_text,
)
from slack_app.text import who

log = logging.getLogger(__name__)


def _where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    message = body.get("message") or {}
    return channel, message.get("thread_ts") or message.get("ts")


def register_support(bolt: AsyncApp, rt: AppRuntime) -> None:
    """Attach the support listeners to `bolt`. Call it before the approval surface's
    `register()`: Bolt runs the first matching listener, and the approval `message` listener
    matches every message."""
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
    if member is None or member.role not in support(rt).policy.claim_roles:
        return "Only the support team can take over customer conversations. Nothing changed."
    if package.status not in (TransferStatus.WAITING, TransferStatus.CLAIMED):
        return f"This conversation was already {package.status.replace('_', ' ')}."
    if package.status == TransferStatus.CLAIMED and package.owner != member.key \
            and member.role != "manager":
        return f"Only the owner ({who(package.owner)}) or a manager can do that. Nothing changed."
    return None
