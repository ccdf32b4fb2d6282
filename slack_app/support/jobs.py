"""The support surface's jobs (sync, on the worker's threads): post and update a transfer card,
relay customer messages into its thread, call in the support lead. Every Web API call is one
job, retried by the worker; where a card lives is recorded through `slack_app.store`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from agent.support.models import TransferStatus, WarmTransfer
from service import conversations
from service.errors import NotFound
from service.jobs import RetryLater
from service.runtime import AppRuntime
from slack_app import store
from slack_app.cards import slack_user_for
from slack_app.support.blocks import (
    escalation_dm,
    escalation_notice,
    transcript_line,
    transcript_messages,
    transfer_card,
)
from slack_app.web import (
    GONE_ERRORS,
    SlackCallFailed,
    call,
    dm_channel,
    update_until_current,
    web_client,
)

log = logging.getLogger(__name__)


def _package(rt: AppRuntime, transfer_id: str) -> WarmTransfer | None:
    try:
        return WarmTransfer.model_validate(conversations.get_handoff(rt, transfer_id))
    except NotFound:
        return None


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
    posted_channel, ts, transcript_posted = store.transfer_location(rt, transfer_id)
    if ts is None:
        text, blocks = transfer_card(package)
        posted = call(client.chat_postMessage, channel=channel, text=text, blocks=blocks,
                      unfurl_links=False, unfurl_media=False)
        posted_channel, ts = str(posted.get("channel") or channel), str(posted["ts"])
        store.save_transfer_card(rt, transfer_id, posted_channel, ts)
        posted_channel, ts, transcript_posted = store.transfer_location(rt, transfer_id)
    if not transcript_posted and ts:
        # Read the transcript now: everything up to here is in it; later messages are relayed.
        lines, upto = store.transcript_so_far(rt, package.conversation_id)
        for chunk in transcript_messages(lines):
            call(client.chat_postMessage, channel=posted_channel, thread_ts=ts, text=chunk,
                 unfurl_links=False, unfurl_media=False)
        store.mark_transcript_posted(rt, transfer_id, package.conversation_id, upto)
    if package.status != TransferStatus.WAITING or package.escalated_at:
        update_card(rt, {"transfer_id": transfer_id})  # changed while we were posting


def update_card(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`support_update_card {transfer_id}`: re-render the card from the store (idempotent)."""
    transfer_id = payload["transfer_id"]
    channel, ts, _ = store.transfer_location(rt, transfer_id)
    if ts is None or channel is None:
        return  # not posted yet: the post job renders the state as it is then

    def rendered() -> tuple[str, list[dict[str, Any]]] | None:
        package = _package(rt, transfer_id)
        return None if package is None else transfer_card(package)

    def send(text: str, blocks: list[dict[str, Any]]) -> None:
        call(web_client(rt).chat_update, channel=channel, ts=ts, text=text, blocks=blocks)

    try:  # a concurrent update cannot leave an older state showing (`update_until_current`)
        update_until_current(rendered, send)
    except SlackCallFailed as exc:
        if exc.error not in GONE_ERRORS:
            raise
        log.warning("support card %s cannot be updated (%s)", transfer_id, exc.error)


def relay(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`support_relay {message_id}`: a customer message that arrived during the transfer, into
    the card's thread."""
    pending = store.message_to_relay(rt, payload["message_id"])
    if pending is None:
        return
    transfer_id, line_ = pending
    if not rt.settings.slack_support_channel:
        return
    channel, ts, transcript_posted = store.transfer_location(rt, transfer_id)
    if ts is None or channel is None or not transcript_posted:
        raise RetryLater(f"transfer {transfer_id}: card or transcript not posted yet")
    posted = call(web_client(rt).chat_postMessage, channel=channel, thread_ts=ts,
                  text=transcript_line(line_), unfurl_links=False, unfurl_media=False)
    store.mark_relayed(rt, payload["message_id"], str(posted.get("ts") or "posted"))


def escalate_slack(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`support_escalate_slack {transfer_id}`: mention the support lead in the card's thread
    and DM them the card."""
    transfer_id = payload["transfer_id"]
    package = _package(rt, transfer_id)
    if package is None or package.status != TransferStatus.WAITING:
        return  # claimed or closed meanwhile: nothing to chase
    if store.escalation_posted(rt, transfer_id) is not False:
        return  # gone, or already posted by an earlier run of this job
    client = web_client(rt)
    lead = package.escalated_to
    lead_slack = slack_user_for(rt, lead)
    waited = None
    if package.escalated_at:
        waited = round((package.escalated_at - package.waiting_since).total_seconds() / 60)
    channel, ts, _ = store.transfer_location(rt, transfer_id)
    if channel and ts:
        call(client.chat_postMessage, channel=channel, thread_ts=ts,
             text=escalation_notice(lead_slack or lead, waited),
             unfurl_links=False, unfurl_media=False)
    if lead_slack:
        text, blocks = escalation_dm(package, channel, waited)
        call(client.chat_postMessage, channel=dm_channel(rt, client, lead_slack),
             text=text, blocks=blocks, unfurl_links=False, unfurl_media=False)
    store.mark_escalation_posted(rt, transfer_id)
    update_card(rt, {"transfer_id": transfer_id})


SUPPORT_SLACK_JOB_HANDLERS: dict[str, Callable[[AppRuntime, dict[str, Any]], None]] = {
    "support_post_card": post_card,
    "support_update_card": update_card,
    "support_relay": relay,
    "support_escalate_slack": escalate_slack,
}
