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

from service.approvals import decide, get_approval
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.jobs import enqueue
from service.runtime import AppRuntime
from service.schemas import DecisionIn
from slack_app import store
from slack_app.blocks import as_datetime, slack_date, who

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
    actor = resolve_actor(rt, decision.actor)
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
        text = f"That could not be recorded: {exc.message}"
    _tell(rt, payload, text)


def resolve_actor(rt: AppRuntime, user_id: str) -> str:
    """The roster key for a Slack user: the Slack id when the roster has it, else the email
    Slack knows for that user when the roster has that (`users.info`), else the bare id."""
    if rt.roster.find(user_id) is not None:
        return user_id
    from slack_sdk.errors import SlackClientError

    from slack_app.web import web_client

    try:
        info = web_client(rt).users_info(user=user_id)
        email = ((info.get("user") or {}).get("profile") or {}).get("email")
    except SlackClientError:
        return user_id
    if email and rt.roster.find(email) is not None:
        return str(email)
    return user_id


def _tell(rt: AppRuntime, payload: dict[str, Any], text: str) -> None:
    from slack_app.web import call, web_client

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
    if approval["status"] == "superseded" or (newest and newest["version"] > approval["version"]):
        newer = f"version {newest['version']}" if newest else "a newer version"
        return (f"Version {approval['version']} was superseded by {newer}; decide on the newest "
                "card. Nothing was changed.")
    if approval["status"] == "revised":
        return (f"Version {approval['version']} is being redrafted as you asked; the new version "
                "will appear in the thread shortly. Nothing else was changed.")
    decided_at = as_datetime(approval.get("decided_at"))
    by = "you" if approval.get("decided_by") == actor else who(approval.get("decided_by"))
    when = f" {slack_date(decided_at)}" if decided_at else ""
    return f"This approval was already {approval['status']} by {by}{when}. Nothing was changed."


def forbidden_text(rt: AppRuntime, approval_id: str) -> str:
    try:
        assignee = get_approval(rt, approval_id)["assignee"]
    except NotFound:
        assignee = None
    return (f"Only the assignee ({who(assignee)}) or a manager can decide this approval. "
            "Nothing was changed.")
