"""SLA timers: when a handoff's next breach check is due.

Timers are rows in the jobs table with `run_at` (see service/jobs.py): they survive restarts, and
on PostgreSQL `FOR UPDATE SKIP LOCKED` hands each one to exactly one replica. What happens when
one fires (reminder, then momentum rescue) is service/rescue.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.policy import Member
from service.jobs import enqueue
from service.runtime import AppRuntime
from store.tables import Handoff


def owner_timezone(rt: AppRuntime, member: Member | None) -> str | None:
    if member is None or not rt.policy.business_hours.use_owner_timezone:
        return None
    return member.timezone


def schedule_sla_check(rt: AppRuntime, session: Any, handoff: Handoff, *, breach: int,
                       at: datetime) -> None:
    """Queue the check for breach number `breach` of the handoff's current SLA."""
    if handoff.sla_due_at is None:
        return
    due = handoff.sla_due_at.isoformat()
    enqueue(session, "sla_check", {"handoff_id": handoff.id, "breach": breach, "due": due},
            now=rt.clock.now(), run_at=at, dedupe_key=f"sla:{handoff.id}:{due}:{breach}")
