"""Business-hours arithmetic and the SLA matrix: when a human must have acted on a handoff.

Business hours come from the policy (`[business_hours]`: time zone, opening and closing time,
working days). A `tz` override (the rep's or the lead's zone) moves the same wall-clock hours
into that zone. All arithmetic runs on UTC instants with zoneinfo supplying the local calendar,
so a daylight-saving change never adds or loses an hour; every result is UTC-aware.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.models import Signal
from agent.policy import BusinessHours, Policy, Route
from agent.qualification.intent import as_utc

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _aware(at: datetime, name: str = "start") -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"`{name}` must be a timezone-aware datetime")
    return at.astimezone(UTC)


def _zone(hours: BusinessHours, tz: str | None) -> ZoneInfo:
    # An unknown override (a typo in a roster) falls back to the policy's zone: a due time
    # in the office's hours beats refusing to hand the lead to anyone.
    if tz:
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(hours.timezone)


def _is_workday(day: date, hours: BusinessHours) -> bool:
    return _WEEKDAYS[day.weekday()] in hours.days


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local date."""
    return datetime.combine(day, clock.replace(tzinfo=None), tzinfo=zone).astimezone(UTC)


def _next_workday(day: date, hours: BusinessHours) -> date:
    day += timedelta(days=1)
    while not _is_workday(day, hours):
        day += timedelta(days=1)
    return day


def _next_opening(at: datetime, hours: BusinessHours, zone: ZoneInfo) -> datetime:
    """`at` itself when inside business hours, else the next time the office opens (UTC)."""
    day = at.astimezone(zone).date()
    # BusinessHours guarantees at least one working day, so a week and a day always suffices.
    for _ in range(8):
        if _is_workday(day, hours):
            close = _at(day, hours.end, zone)
            if at < close:
                return max(at, _at(day, hours.start, zone))
        day += timedelta(days=1)
    raise AssertionError("business hours name no working day")  # pragma: no cover


def _close_of(at: datetime, hours: BusinessHours, zone: ZoneInfo) -> datetime:
    return _at(at.astimezone(zone).date(), hours.end, zone)


def is_business_time(at: datetime, hours: BusinessHours, tz: str | None = None) -> bool:
    """Whether `at` falls inside business hours (opening inclusive, closing exclusive)."""
    zone = _zone(hours, tz)
    local = _aware(at, "at").astimezone(zone)
    return _is_workday(local.date(), hours) and hours.start <= local.time() < hours.end


def add_business_minutes(start: datetime, minutes: float, hours: BusinessHours,
                         tz: str | None = None) -> datetime:
    """`start` plus `minutes` of business time (the clock stops nights and non-working days).

    A start outside business hours begins counting at the next opening.
    """
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    zone = _zone(hours, tz)
    remaining = timedelta(minutes=minutes)
    cursor = _next_opening(_aware(start), hours, zone)
    while True:
        close = _close_of(cursor, hours, zone)
        available = close - cursor
        if remaining <= available:
            return cursor + remaining
        remaining -= available
        cursor = _next_opening(close, hours, zone)


def end_of_business_day(start: datetime, hours: BusinessHours, tz: str | None = None) -> datetime:
    """Closing time of the business day `start` falls in.

    Before opening on a working day that is the same day's close; after closing or on a
    non-working day it is the close of the next business day.
    """
    zone = _zone(hours, tz)
    return _close_of(_next_opening(_aware(start), hours, zone), hours, zone)


def add_business_days(start: datetime, days: int, hours: BusinessHours,
                      tz: str | None = None) -> datetime:
    """`start` plus whole business days.

    Inside business hours one business day is the same clock time on the next working day. A
    start outside them is first rolled to the next opening, and the deadline is then the close of
    the `days`-th business day from there (Friday 18:00 + 1 day -> Monday's close, which is the
    same amount of business time as Tuesday's opening, said the way a rep reads it).
    """
    if days < 0:
        raise ValueError("days must not be negative")
    zone = _zone(hours, tz)
    start = _aware(start)
    if is_business_time(start, hours, tz):
        local = start.astimezone(zone)
        day = local.date()
        for _ in range(days):
            day = _next_workday(day, hours)
        return _at(day, local.time(), zone)
    opening = _next_opening(start, hours, zone)
    if days == 0:
        return opening
    day = opening.astimezone(zone).date()
    for _ in range(days - 1):
        day = _next_workday(day, hours)
    return _at(day, hours.end, zone)


def sla_due_at(route: Route, start: datetime, policy: Policy,
               tz: str | None = None) -> datetime | None:
    """When a human must have acted on a lead routed `route` at `start`, per `policy.sla`.

    None for routes no human works (nurture, disqualified). `tz` moves business hours into the
    rep's or lead's zone.
    """
    start = _aware(start)
    rule = None if route == "disqualified" else policy.sla.get(route)
    if rule is None or not rule.human:
        return None
    hours = policy.business_hours
    if rule.minutes is not None:
        if rule.business_hours:
            return add_business_minutes(start, rule.minutes, hours, tz)
        return start + timedelta(minutes=rule.minutes)
    if rule.same_business_day:
        return end_of_business_day(start, hours, tz)
    if rule.business_days is not None:
        return add_business_days(start, rule.business_days, hours, tz)
    raise ValueError(f"sla.{route} is human but sets no minutes, same_business_day or "
                     "business_days")


# What counts as a connect after outreach: the lead answered or booked time.
CONNECT_TYPES = frozenset({"inbound_reply", "meeting_booked"})


@dataclass(frozen=True)
class NoResponseDecision:
    """The seeds' "unresponsive after outreach" row at one moment.

    `recycle`: no connect after the attempts, inside (or past) the day 7-14 window; `connected`:
    the lead replied or booked a meeting after the first email; `wait`: look again at
    `next_check_at` (None when nothing was sent)."""

    outcome: Literal["recycle", "wait", "connected"]
    attempts: int
    replies: int
    first_attempt_at: datetime | None
    next_check_at: datetime | None


def no_response_decision(sent_at: Sequence[datetime], signals: Iterable[Signal],
                         now: datetime, policy: Policy) -> NoResponseDecision:
    """Whether a lead that was emailed should go back to automation with `no_response`.

    Counted from the first outreach email (`sent_at`): a reply or booked meeting from the lead
    after it is a connect. Otherwise the lead is recycled on day `no_response_after_days` once
    `no_response_attempts` emails went out (the last one given `reply_wait_days` to be
    answered), and on day `no_response_by_days` whatever the number of attempts.
    """
    now = _aware(now, "now")
    rule = policy.recycle
    sends = sorted(at for at in (_aware(s, "sent_at") for s in sent_at) if at <= now)
    if not sends:
        return NoResponseDecision("wait", 0, 0, None, None)
    first = sends[0]
    replies = sum(1 for s in signals if s.type in CONNECT_TYPES
                  and first <= as_utc(s.occurred_at) <= now)
    attempts = len(sends)
    if replies:
        return NoResponseDecision("connected", attempts, replies, first, None)
    latest = first + timedelta(days=rule.no_response_by_days)
    ready = latest
    if attempts >= rule.no_response_attempts:
        ready = min(latest, max(first + timedelta(days=rule.no_response_after_days),
                                sends[-1] + timedelta(days=rule.reply_wait_days)))
    if now >= ready:
        return NoResponseDecision("recycle", attempts, 0, first, None)
    return NoResponseDecision("wait", attempts, 0, first, ready)
