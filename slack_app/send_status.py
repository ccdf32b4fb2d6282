"""Telling people when an approved email failed for good.

The card already shows every send state (`blocks.send_status_text`); a failure for good also
reaches the person who holds the lead and a manager as a DM, because a card scrolled out of view
tells nobody anything.
"""

from __future__ import annotations

from typing import Any

from service.runtime import AppRuntime
from slack_app.blocks.notices import send_failed_text
from slack_app.cards import load_approval, load_lead, slack_user_for
from slack_app.web import call, dm_channel, web_client


def notify_send_failed(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`slack_send_failed {outbox_id or job_id, approval_id, lead_id}`: DM the owner and a
    manager."""
    approval = load_approval(rt, payload["approval_id"])
    if approval is None or approval.get("send_status") != "failed":
        return  # erased, or retried and sent since the failure was queued
    lead = load_lead(rt, approval["lead_id"])
    text = send_failed_text(approval, lead)
    holder = (approval.get("decision") or {}).get("actor") or approval["assignee"]
    recipients = [slack_user_for(rt, approval["assignee"]), slack_user_for(rt, holder)]
    recipients += [slack_user_for(rt, m.key) for m in rt.roster.managers_on_duty()[:1]]
    client = web_client(rt)
    for slack_id in dict.fromkeys(r for r in recipients if r):
        call(client.chat_postMessage, channel=dm_channel(rt, client, slack_id), text=text,
             unfurl_links=False, unfurl_media=False)
