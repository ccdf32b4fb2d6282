"""Decisions made in Slack: queued durably at the click, recorded by the worker.

A click (Approve) or a modal submission is answered as soon as its decision is on disk as a
`slack_record_decision` job; `service.approvals.decide` then runs in the worker process, where
the first decision on a version wins exactly as for the REST API, and any refusal (someone else
decided first, a superseded version, a stranger) comes back as an ephemeral message. Slack's
advice is to acknowledge at once and do the work after; doing that work in the worker means a
burst of clicks is answered without waiting on the decisions behind it, and a click Slack saw
answered survives a crash of the web process.
"""

from __future__ import annotations

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


def queue_decision(rt: AppRuntime, approval_id: str, decision: DecisionIn, *, user: str,
                   channel: str | None, thread_ts: str | None) -> None:
    """The click, on disk: one small insert (the job the worker records it from)."""
    with rt.db.session() as session:
        enqueue(session, "slack_record_decision", {
            "approval_id": approval_id, "decision": decision.model_dump(mode="json"),
            "user": user, "channel": channel, "thread_ts": thread_ts,
        }, now=rt.clock.now())


def record_decision_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """The worker's half: decide(); a refusal becomes an ephemeral explanation (best effort: a
    message that fails to post is logged, never retried, so the decision is never re-run)."""
    approval_id = str(payload["approval_id"])
    decision = DecisionIn.model_validate(payload["decision"])
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
