"""Decisions made in Slack: queued durably at the click, recorded by the worker.

A click (Approve), a modal submission or a thread instruction is answered once its decision is
on disk as a `slack_record_decision` job; `service.approvals.decide` then runs in the worker,
where the first decision on a version wins exactly as for the REST API, and any refusal (someone
else decided first, a superseded version, a stranger) comes back as an ephemeral message.
Slack's advice is to acknowledge at once and do the work after; doing that work in the worker
means a burst of clicks is answered without waiting on the decisions behind it, and a click
Slack saw answered survives a crash of the web process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackClientError

from service.approvals import decide, get_approval
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.jobs import enqueue
from service.runtime import AppRuntime
from service.schemas import DecisionIn
from slack_app import store
from slack_app.blocks.notices import conflict_message, forbidden_message, invalid_message
from slack_app.web import call, web_client

log = logging.getLogger(__name__)

GENERIC_FAILURE = ("Sorry, that did not go through. Nothing was changed on our side; please try "
                   "again in a moment.")


class DecisionInbox:
    """Group commit for decisions arriving together: every click waits until its job is
    committed (so the answer Slack gets means "on disk"), and clicks that arrive while one
    transaction is being written share the next one. A burst of 50 clicks costs a few
    transactions, not 50."""

    def __init__(self, rt: AppRuntime) -> None:
        self.rt = rt
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flushing = False

    async def put(self, payload: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((payload, done))
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await asyncio.to_thread(queue_decisions, self.rt, [p for p, _ in batch])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
                    self.rt.notify_work()
        finally:
            self._flushing = False


def decision_payload(approval_id: str, decision: DecisionIn, *, slack_user: str,
                     channel: str | None, thread_ts: str | None) -> dict[str, Any]:
    """What a queued decision carries. `decision.actor` is the Slack user id as clicked: the
    worker resolves it to the roster member (users.info when the roster has the email)."""
    return {"approval_id": approval_id, "decision": decision.model_dump(mode="json"),
            "user": slack_user, "channel": channel, "thread_ts": thread_ts}


def queue_decisions(rt: AppRuntime, payloads: list[dict[str, Any]]) -> None:
    """Decisions on disk, one transaction (the jobs the worker records them from)."""
    now = rt.clock.now()
    with rt.db.session() as session:
        for payload in payloads:
            enqueue(session, "slack_record_decision", payload, now=now)


def record_decision_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """The worker's half: who clicked (roster member), decide(); a refusal becomes an
    ephemeral explanation (best effort: a message that fails to post is logged and never
    retried, so the decision is never re-run for it)."""
    approval_id = str(payload["approval_id"])
    decision = DecisionIn.model_validate(payload["decision"])
    # A click carries the Slack id; a thread instruction the roster key the web already found.
    actor = actor_for_slack_user(rt, decision.actor)
    decision = decision.model_copy(update={"actor": actor})
    try:
        decide(rt, approval_id, decision)
        return
    except Forbidden:
        text = forbidden_text(rt, approval_id)
    except Conflict:
        text = conflict_text(rt, approval_id, decision.actor)
    except NotFound:
        text = "This approval no longer exists (the lead may have been erased). Nothing changed."
    except InvalidInput as exc:  # the service's messages are written for people
        text = invalid_message(exc.message)
    _tell(rt, payload, text)


def actor_for_slack_user(rt: AppRuntime, user_id: str) -> str:
    """The roster key for a Slack user: the member listed with that Slack id; else, for members
    listed without one, the member whose email Slack shows on the user's profile (`users.info`;
    deleted users and bots never match); else the bare id, which no roster check accepts."""
    member = rt.roster.by_slack_id(user_id)
    if member is not None:
        return member.key
    if "@" in user_id:
        return user_id  # already a roster key (a thread instruction, resolved by the web)
    try:
        user = web_client(rt).users_info(user=user_id).get("user") or {}
    except SlackClientError:
        return user_id
    if user.get("deleted") or user.get("is_bot"):
        return user_id
    email = (user.get("profile") or {}).get("email")
    member = rt.roster.for_slack_user(user_id, str(email) if email else None)
    return member.key if member is not None else user_id


def _tell(rt: AppRuntime, payload: dict[str, Any], text: str) -> None:
    channel = payload.get("channel")
    if not channel:
        log.info("no channel for an ephemeral reply to %s: %s", payload.get("user"), text)
        return
    try:
        call(web_client(rt).chat_postEphemeral, channel=channel, user=payload["user"],
             text=text, thread_ts=payload.get("thread_ts"))
    except Exception as exc:
        log.warning("chat.postEphemeral to %s failed: %s", payload.get("user"), exc)


def conflict_text(rt: AppRuntime, approval_id: str, actor: str) -> str:
    """Why a decision on this version is no longer possible, in the reader's terms."""
    try:
        approval = get_approval(rt, approval_id)
    except NotFound:
        return "This approval no longer exists (the lead may have been erased). Nothing changed."
    newest = store.latest_version(rt, approval["handoff_id"])
    return conflict_message(approval, newest["version"] if newest else None, actor)


def forbidden_text(rt: AppRuntime, approval_id: str) -> str:
    """The refusal for a stranger, naming the assignee."""
    try:
        assignee = get_approval(rt, approval_id)["assignee"]
    except NotFound:
        assignee = None
    return forbidden_message(assignee)
