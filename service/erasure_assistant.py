"""The rep's assistant's part of an erasure (service/erasure.py coordinates).

A lead's name reaches the assistant in four places: the conversation's checkpoint thread (its
history quotes the answers), each proposal's thread (its HITLRequest describes the change),
the proposal rows (`args`, `description`), and the answers posted in Slack. Reply rows hold
only ids (`lead_ids`).

An erasure of the lead therefore:
- deletes every conversation thread whose answers or proposals quoted the lead, and the
  lead's proposal threads (with the handoff threads, by the same cleanup: checkpoints and
  writes, on SQLite and PostgreSQL). A whole conversation goes, not only the lines about the
  lead: its history is one value in every checkpoint, and the rep's next message in that DM
  thread starts a fresh conversation;
- queues for redaction every Slack message logged in those DM threads (each answer is logged
  under a lead it cites, so the log finds them all), as cards are redacted;
- deletes the lead's proposal rows, and takes the lead's id out of the reply rows, which stay
  (without it) as the reps' feedback signal.

Found through `assistant_replies.lead_ids`: every lead an answer cites or names is recorded
there when it is given (service/assistant_runs.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, or_
from sqlalchemy.orm import Session

from service.assistant_threads import (
    assistant_threads_about,
    conversations_about,
    replies_citing,
    slack_places,
    thread_id,
)
from store.tables import AssistantProposal, SlackMessageLog


@dataclass
class AssistantTrace:
    """Where the assistant quoted one lead, read before anything is deleted."""

    threads: list[str] = field(default_factory=list)
    places: set[tuple[str, str]] = field(default_factory=set)  # Slack (channel, thread_ts)


def trace(session: Session, lead_id: str) -> AssistantTrace:
    conversations = conversations_about(session, lead_id)
    threads = set(assistant_threads_about(session, lead_id))
    threads |= {thread_id(member, key) for member, key in conversations}
    return AssistantTrace(threads=sorted(threads), places=slack_places(conversations))


def posted_in(places: set[tuple[str, str]]) -> list[Any]:
    """Conditions on `slack_message_log` for every message in those DM threads."""
    return [and_(SlackMessageLog.channel == channel,
                 or_(SlackMessageLog.thread_ts == thread_ts, SlackMessageLog.ts == thread_ts))
            for channel, thread_ts in sorted(places)]


def forget_rows(session: Session, lead_id: str) -> dict[str, int]:
    """Delete the lead's proposals; take the lead's id out of the replies that cited it."""
    result: Any = session.execute(delete(AssistantProposal)
                                  .where(AssistantProposal.lead_id == lead_id))
    replies = replies_citing(session, lead_id)
    for reply in replies:
        reply.lead_ids = [i for i in (reply.lead_ids or []) if i != lead_id]
    session.flush()
    return {"assistant_proposals": int(result.rowcount or 0),
            "assistant_replies_rewritten": len(replies)}
