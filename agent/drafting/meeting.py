"""Two concrete meeting times to offer a lead: inside the owner's business hours, on the next
working days, computed from an injected `now` (never the wall clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.policy import Policy

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Words of a recommended next step that mean "offer a meeting" (agent/context/recommend.py
# writes them), and the ones that mean one is already booked or no contact is wanted.
_MEETING_WORDS = ("meeting time", "discovery call", "demo", "call", "meet")
_NOT_A_MEETING = ("booked", "do not", "no rep outreach")


def wants_meeting(next_step: str) -> bool:
    """Whether the recommended next step asks for a (new) meeting with the lead."""
    step = next_step.lower()
    return (any(w in step for w in _MEETING_WORDS)
            and not any(w in step for w in _NOT_A_MEETING))


def owner_zone(policy: Policy, timezone: str | None) -> ZoneInfo:
    """The owner's zone (roster `timezone`) when known and valid, else the policy's."""
    hours = policy.business_hours
    if timezone and hours.use_owner_timezone:
        try:
            return ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(hours.timezone)


def meeting_times(now: datetime, policy: Policy, timezone: str | None = None,
                  count: int = 2) -> tuple[datetime, ...]:
    """`count` meeting starts (UTC), one per working day, at the policy's `meeting_times`
    (cycled: 10:00 on the first day, 14:00 on the next) in the owner's zone, each at least
    `min_notice_hours` after `now` and ending inside business hours.

    A Friday-afternoon `now` gives Monday 10:00 and Tuesday 14:00."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be a timezone-aware datetime")
    hours, drafting = policy.business_hours, policy.drafting
    zone = owner_zone(policy, timezone)
    earliest = now + timedelta(hours=drafting.min_notice_hours)
    length = timedelta(minutes=drafting.meeting_minutes)
    day = now.astimezone(zone).date()
    found: list[datetime] = []
    for _ in range(31):  # a month always holds enough working days
        if len(found) >= count:
            break
        if _WEEKDAYS[day.weekday()] in hours.days:
            wanted = drafting.meeting_times[len(found) % len(drafting.meeting_times)]
            candidates = [wanted, *drafting.meeting_times]
            for clock in candidates:
                start = datetime.combine(day, clock, tzinfo=zone)
                end_of_day = datetime.combine(day, hours.end, tzinfo=zone)
                if (clock >= hours.start and start + length <= end_of_day
                        and start >= earliest):
                    found.append(start.astimezone(UTC))
                    break
        day += timedelta(days=1)
    return tuple(found)
