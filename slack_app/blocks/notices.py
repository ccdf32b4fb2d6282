"""Texts sent without a card: refusals of a decision, SLA nudges, a failed send, erasure.
Pure; lead-controlled values go through `slack_app.text`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.lifecycle import outcome_unknown
from slack_app.blocks.card import as_datetime, lead_name, lead_title
from slack_app.text import clip, code, inert, one_line, section, slack_date, who


def send_failed_text(approval: dict[str, Any], lead: dict[str, Any] | None) -> str:
    """The DM to the holder and a manager when an approved email failed for good."""
    title = lead_title(lead, approval.get("context") or {})
    if approval.get("preparing_job_id"):  # never reached the outbox: the job is what to retry
        job_id = approval["preparing_job_id"]
        return (f":x: The approved email to {inert(title, 300)} was not sent: "
                f"{inert(clip(str(approval.get('send_detail') or ''), 500))} "
                f"({code(f'hitl jobs retry {job_id}')} or {code(f'POST /v1/jobs/{job_id}/retry')}"
                "); it will still go out only once.")
    outbox_id = approval.get("outbox_id") or ""
    detail = str(approval.get("send_detail") or "the mail server refused it")
    retry = (f"{code(f'hitl outbox retry {outbox_id}')} "
             f"(or {code(f'POST /v1/outbox/{outbox_id}/retry')})")
    if outcome_unknown(detail):  # it may have arrived: a retry could be a second copy
        return (f":warning: The approved email to {inert(title, 300)} may or may not have "
                f"arrived: {inert(clip(detail, 700))}. If it did not, send it with {retry}.")
    return (f":x: The approved email to {inert(title, 300)} was not sent: "
            f"{inert(clip(detail, 500))}"
            f". Fix the cause, then retry it with {retry}; it will still go out only once.")


def conflict_message(approval: dict[str, Any], newest_version: int | None, actor: str) -> str:
    """Why a decision on this version is no longer possible, in the reader's terms."""
    version = approval["version"]
    if approval["status"] == "superseded" or (newest_version and newest_version > version):
        newer = f"version {newest_version}" if newest_version else "a newer version"
        return (f"Version {version} was superseded by {newer}; decide on the newest card. "
                "Nothing was changed.")
    if approval["status"] == "revised":
        return (f"Version {version} is being redrafted as you asked; the new version will "
                "appear in the thread shortly. Nothing else was changed.")
    decided_at = as_datetime(approval.get("decided_at"))
    by = "you" if approval.get("decided_by") == actor else who(approval.get("decided_by"))
    when = f" {slack_date(decided_at)}" if decided_at else ""
    return (f"This approval was already {inert(approval['status'])} by {by}{when}. "
            "Nothing was changed.")


def forbidden_message(assignee: str | None) -> str:
    """The refusal for someone who is neither the assignee nor a manager."""
    return (f"Only the assignee ({who(assignee)}) or a manager can decide this approval. "
            "Nothing was changed.")


def invalid_message(reason: str) -> str:
    """A decision the service refused as invalid (its message may quote what was typed)."""
    return f"That could not be recorded: {inert(reason, 1000)}"


def sla_reminder_text(assignee: str | None, due: datetime | None) -> str:
    """First SLA breach, to the holder (`assignee`: their Slack id, else their roster key)."""
    when = slack_date(due, "{time}") if due else "its SLA"
    return (f":alarm_clock: {who(assignee)} this card passed its SLA ({when}). Decide, or "
            "escalate it if you can't work it; left untouched it is reassigned.")


def sla_escalation_text(lead: dict[str, Any] | None, previous: str | None,
                        holder: str | None) -> str:
    """Second breach, to the manager and on the old card: who holds the lead now."""
    lead = lead or {}
    company = one_line(lead.get("company")) or "unknown"
    return (f":rotating_light: SLA missed twice on {inert(lead_name(lead) or 'a lead', 300)} "
            f"({inert(company, 300)}): reassigned from {who(previous)} to "
            f"{who(holder)} with a refreshed package.")


ERASED_NOTICE = "This lead's personal data was erased on request."


def erased_card() -> tuple[str, list[dict[str, Any]]]:
    """What replaces every card of an erased lead."""
    return ERASED_NOTICE, [section(f":wastebasket: {ERASED_NOTICE}")]
