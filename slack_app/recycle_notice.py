"""The Slack side of the no-response recycle notice (`slack_recycle_notice`, queued by
service/notices.py `queue_recycle_notice` when the no-response timer recycled a lead): one DM to
the former owner. The lead's name and company are the lead's own words: inert (slack_app/text).
Once: the job is queued once per outreach cycle (its dedupe key) by a recycle that happens once.
"""

from __future__ import annotations

from typing import Any

from service.runtime import AppRuntime
from slack_app.blocks.card import lead_name
from slack_app.cards import load_lead, slack_user_for
from slack_app.jobs import logged
from slack_app.text import inert, one_line
from slack_app.web import call, dm_channel, web_client

KIND = "slack_recycle_notice"


def recycle_text(lead: dict[str, Any], attempts: int, *, crm: bool,
                 kept_owner: bool = False) -> str:
    track = lead.get("nurture_track")
    name = lead_name(lead) or one_line(lead.get("email")) or "A lead"
    company = one_line(lead.get("company")) or "unknown"
    return (f":recycle: {inert(name, 300)} ({inert(company, 300)}) never answered your outreach "
            f"({attempts} attempt{'s' if attempts != 1 else ''}), so it went back to automation"
            + (f" ({inert(track, 100)})" if track else "")
            + (". You stay its owner for when it comes back" if kept_owner
               else ". It is no longer yours to follow up")
            + ("; its lead status in the CRM was updated" if crm else "")
            + ". If they come back with intent, a new card reaches a person.")


def recycle_notice(rt: AppRuntime, payload: dict[str, Any]) -> None:
    lead = load_lead(rt, payload["lead_id"])
    slack_id = slack_user_for(rt, payload["to"])
    if lead is None or not slack_id:
        return  # erased meanwhile, or the person left Slack's reach
    client = web_client(rt)
    call(client.chat_postMessage, channel=dm_channel(rt, client, slack_id),
         text=recycle_text(lead, int(payload.get("attempts") or 0), crm=bool(rt.crm_writers),
                           kept_owner=bool(payload.get("kept_owner"))),
         unfurl_links=False, unfurl_media=False)


RECYCLE_SLACK_JOB_HANDLERS = {KIND: logged(KIND, recycle_notice)}
