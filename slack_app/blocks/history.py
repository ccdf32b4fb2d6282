"""A handoff's full history as thread messages, posted in the new holder's card thread when
a lead is escalated or reassigned. Pure."""

from __future__ import annotations

from typing import Any

from slack_app.blocks.card import (
    MAX_BLOCKS,
    SECTION_LIMIT,
    as_datetime,
    draft_blocks,
    lead_title,
    outcome_text,
    signal_line,
)
from slack_app.text import TEXT_LIMIT, clip, context, inert, section, slack_date, who


def history_messages(lead: dict[str, Any] | None, signals: list[dict[str, Any]],
                     versions: list[dict[str, Any]], *, total_signals: int | None = None
                     ) -> list[tuple[str, list[dict[str, Any]]]]:
    """The full history of a handoff as thread messages (each within the 50-block limit):
    every signal with its time, then every version with its draft, decision and notes.

    `versions` items: {"approval": approval_view, "decision": {...} | None}.
    """
    messages: list[tuple[str, list[dict[str, Any]]]] = []
    title = inert(lead_title(lead))
    lines = [signal_line(s) for s in signals]
    header = f"*History for {title}*\n*Signals* ({total_signals or len(signals)})"
    if total_signals and total_signals > len(signals):
        header += f", the latest {len(signals)} shown"
    sections = [section(header)]
    chunk: list[str] = []
    for line in lines or ["_none recorded_"]:
        if sum(len(x) + 1 for x in chunk) + len(line) > SECTION_LIMIT - 10:
            sections.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    sections.append(section("\n".join(chunk)))
    messages.append((clip(f"History for {title}: signals", TEXT_LIMIT), sections[:MAX_BLOCKS]))

    for item in versions:
        approval, decision = item["approval"], item.get("decision")
        draft = approval.get("draft") or {}
        created = as_datetime(approval.get("created_at"))
        blocks = [section(f"*Version {approval['version']}* · assigned to "
                          f"{who(approval.get('assignee'))}"
                          + (f" · {slack_date(created)}" if created else ""))]
        blocks += draft_blocks(str(draft.get("subject") or ""), str(draft.get("body") or ""),
                                draft, int(approval["version"]))
        outcome = outcome_text(approval, decision)
        if outcome:
            blocks.append(section(outcome))
        elif approval.get("status") == "pending":
            blocks.append(context("Awaiting a decision (the card above)."))
        messages.append((f"History: version {approval['version']}", blocks[:MAX_BLOCKS]))
    return messages
