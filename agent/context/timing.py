"""Times as a rep reads them ("2 hours ago", "in 3 days"), always in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(at: datetime) -> datetime:
    """The same instant in UTC; a naive time is read as UTC (stored timestamps are UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def relative_time(then: datetime, now: datetime) -> str:
    """ "just now", "12 minutes ago", "2 hours ago", "3 days ago", "5 weeks ago", "4 months ago"."""
    seconds = (utc(now) - utc(then)).total_seconds()
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return _plural(minutes, "minute") + " ago"
    hours = minutes // 60
    if hours < 48:
        return _plural(hours, "hour") + " ago"
    days = hours // 24
    if days < 14:
        return _plural(days, "day") + " ago"
    if days < 60:
        return _plural(days // 7, "week") + " ago"
    return _plural(days // 30, "month") + " ago"


def time_until(then: datetime, now: datetime) -> str:
    """ "in 3 hours", "in 2 days": how far ahead `then` is (at least one hour)."""
    days = (utc(then) - utc(now)).total_seconds() / 86400
    if days < 1:
        hours = max(1, int(days * 24))
        return "in " + _plural(hours, "hour")
    return "in " + _plural(int(days), "day")

