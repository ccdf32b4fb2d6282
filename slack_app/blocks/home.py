"""The App Home tab: the viewer's open approvals (and the team's, for managers). Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_app.blocks.card import as_datetime
from slack_app.text import (
    clip,
    context,
    duration,
    inert,
    plain,
    plain_text,
    section,
    slack_date,
    who,
)

MAX_HOME_BLOCKS = 100


def home_view(member_name: str | None, approvals: list[dict[str, Any]], now: datetime, *,
              team: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The Home tab: the viewer's open approvals oldest first, each with its SLA state."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain_text("Your open approvals")}]
    if member_name is None:
        blocks.append(section("You are not on the team roster, so no approvals are assigned "
                              "to you. Ask an admin to add your Slack id to `HITL_TEAM_FILE`."))
        return {"type": "home", "blocks": blocks}
    if not approvals:
        blocks.append(section(f"Nothing waiting for you, {inert(member_name)}. :tada:"))
    blocks += _home_rows(approvals, now, limit=40)
    if team is not None:
        blocks.append({"type": "divider"})
        blocks.append({"type": "header", "text": plain_text(f"Team queue ({len(team)} open)")})
        blocks += _home_rows(team, now, limit=MAX_HOME_BLOCKS - len(blocks) - 1,
                             show_assignee=True)
    blocks.append(context(f"Updated {slack_date(now)}. Decide from each card in your DMs."))
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def _home_rows(approvals: list[dict[str, Any]], now: datetime, *, limit: int,
               show_assignee: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for approval in approvals:
        if len(rows) >= limit - 1 and len(approvals) > limit:
            rows.append(context(f"…and {len(approvals) - len(rows)} more."))
            break
        context_ = approval.get("context") or {}
        draft = approval.get("draft") or {}
        due = as_datetime(approval.get("sla_due_at"))
        if due is None:
            sla = "no SLA"
        elif due >= now:
            sla = f":hourglass_flowing_sand: due in {duration((due - now).total_seconds())}"
        else:
            sla = f":rotating_light: *overdue* by {duration((now - due).total_seconds())}"
        line = (f"*{inert(draft.get('to') or approval.get('lead_id'))}* · band "
                f"{inert(context_.get('band', '?'))} · v{approval.get('version')} · {sla}\n"
                f"{inert(clip(plain(draft.get('subject')), 200))}")
        if show_assignee:
            line += f"\nAssigned to {who(approval.get('assignee'))}"
        rows.append(section(line))
    return rows
