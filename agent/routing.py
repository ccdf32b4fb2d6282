"""Who works a lead: named account owners first, then round robin within territory and segment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from agent.models import LeadProfile, Qualification
from agent.policy import Member, Policy, Roster


def _available(member: Member, open_approvals: Mapping[str, int], capacity: int) -> bool:
    # A rep at capacity would only sit on the lead; out of office cannot answer within the SLA.
    return (member.role == "rep" and not member.out_of_office
            and open_approvals.get(member.key, 0) < capacity)


def _round_robin(candidates: Sequence[Member], open_approvals: Mapping[str, int],
                 last_assigned_at: Mapping[str, datetime]) -> Member:
    """Least recently assigned first (never-assigned before all), then lightest load, then key."""

    def order(member: Member) -> tuple[int, datetime, int, str]:
        last = last_assigned_at.get(member.key)
        if last is None:
            return (0, datetime.min.replace(tzinfo=UTC), open_approvals.get(member.key, 0),
                    member.key)
        last = last.replace(tzinfo=UTC) if last.tzinfo is None else last.astimezone(UTC)
        return (1, last, open_approvals.get(member.key, 0), member.key)

    return min(candidates, key=order)


def choose_owner(
    lead: LeadProfile,
    qualification: Qualification,
    roster: Roster,
    policy: Policy,
    open_approvals: Mapping[str, int],
    last_assigned_at: Mapping[str, datetime] | None = None,
) -> Member | None:
    """The roster member who should work this lead, or None (the caller escalates to a manager).

    A named account owner (`qualification.strategic_owner`) gets it when in the roster and not out
    of office; account ownership is not load-balanced, so capacity does not apply to them.
    Otherwise: reps covering the lead's country and segment (any segment when the size is
    unknown), not out of office and under `max_open_approvals_per_rep`, by round robin; failing
    that, any such rep covering the country. `open_approvals` and `last_assigned_at` are keyed by
    `Member.key`.
    """
    last_assigned_at = last_assigned_at or {}
    if qualification.strategic_owner:
        named = roster.find(qualification.strategic_owner)
        if named is not None and not named.out_of_office:
            return named

    capacity = policy.routing.max_open_approvals_per_rep
    country = (lead.country or "").strip().upper()
    if not country:
        return None
    in_territory = [m for m in roster.members if _available(m, open_approvals, capacity)
                    and country in {t.upper() for t in m.territories}]
    segment = policy.segment_for(lead.employees)
    matching = [m for m in in_territory if segment is None or segment in m.segments]
    for pool in (matching, in_territory):
        if pool:
            return _round_robin(pool, open_approvals, last_assigned_at)
    return None
