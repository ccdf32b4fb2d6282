"""A customer asking to be called back, and when: read offline, deterministically.

`read_callback(text, now, tz)` answers None when the message is not a callback request, else a
`CallbackAsk`: the time the customer chose (`at`, UTC, read against `now` in the time zone
`tz`), or `at=None` with a `problem` when they named no usable time (the bot then asks for one).

English and French:
    "call me tomorrow morning", "can you call me back on Friday at 3pm", "ring me in 2 hours",
    "please phone me today at 16:30", "rappelez-moi demain matin", "appelez-moi lundi à 15h".

Parts of the day are fixed hours (`PARTS`): morning 09:00, noon 12:00, afternoon 14:00,
evening 18:00. A time that has already passed today, with no day named, is tomorrow; with
"today" named it is refused (`problem="past"`). Pure: no I/O, no clock of its own.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

# "call me", "call me back", "call us", "ring me", "phone me", "give me a call", "callback",
# "rappelez-moi", "rappelle-moi", "appelez-moi", "téléphonez-moi".
_ASK = re.compile(
    r"\b(?:call|ring|phone)\s+(?:me|us)\b|\bgive\s+(?:me|us)\s+a\s+(?:call|ring)\b"
    r"|\bcall\s*-?\s*back\b|\b(?:r?appel(?:ez|le)|t[ée]l[ée]phonez)[\s-]+(?:moi|nous)\b",
    re.IGNORECASE)
_NOT = re.compile(r"\b(?:don'?t|do not|never|no need to|ne\s+(?:me|nous)\s+r?appel)",
                  re.IGNORECASE)

PARTS: dict[str, time] = {
    "morning": time(9), "matin": time(9),
    "noon": time(12), "lunchtime": time(12), "midday": time(12), "midi": time(12),
    "afternoon": time(14), "après-midi": time(14), "apres-midi": time(14),
    "evening": time(18), "tonight": time(18), "soir": time(18), "ce soir": time(18),
}
_WEEKDAYS: dict[str, int] = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4,
    "samedi": 5, "dimanche": 6,
}
_RELATIVE_DAYS: dict[str, int] = {
    "today": 0, "aujourd'hui": 0, "aujourd’hui": 0, "tomorrow": 1, "demain": 1,
    "day after tomorrow": 2, "après-demain": 2, "apres-demain": 2, "après demain": 2,
}
_DAY = re.compile(r"\b(day after tomorrow|après[- ]demain|apres-demain|tomorrow|demain|today|"
                  r"aujourd['’]hui|" + "|".join(_WEEKDAYS) + r")\b", re.IGNORECASE)
_PART = re.compile(r"\b(après-midi|apres-midi|ce soir|lunchtime|afternoon|morning|midday|"
                   r"evening|tonight|noon|matin|midi|soir)\b", re.IGNORECASE)
# 3pm, 3 pm, 3:30pm, 15:30, 15h, 15h30, at 9 (bare hour only after "at"/"à")
_CLOCK = re.compile(
    r"\b(?P<h1>\d{1,2})(?::(?P<m1>\d{2}))?\s*(?P<ampm>a\.?m\.?|p\.?m\.?)(?![a-z])"
    r"|\b(?P<h2>\d{1,2}):(?P<m2>\d{2})\b"
    r"|\b(?P<h3>\d{1,2})\s*h\s*(?P<m3>\d{2})?\b"
    r"|(?:\bat|(?<!\w)à)\s+(?P<h4>\d{1,2})\b(?!:|\s*(?:[ap]\.?m\b|hours?|minutes?|mins?|heures?|days?))",
    re.IGNORECASE)
_IN = re.compile(r"\b(?:in|dans)\s+(?P<n>\d{1,3}|an?|one|une?)\s*"
                 r"(?P<unit>hours?|hrs?|heures?|minutes?|mins?)\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d ()./-]{6,22}\d(?!\w)")


class CallbackAsk(BaseModel):
    """What the customer asked for. `at` is None when no usable time was named."""

    model_config = ConfigDict(frozen=True)

    at: datetime | None
    timezone: str
    asked: str                 # the words that named the time, for the record ("" if none)
    phone: str | None = None   # a number written in the message, if any
    problem: str | None = None  # "no_time" | "past"


def is_callback_request(text: str) -> bool:
    """Whether the message asks us to call the customer (and does not say not to)."""
    return bool(_ASK.search(text)) and not _NOT.search(text)


def _clock_time(match: re.Match[str]) -> time | None:
    hour_text = match["h1"] or match["h2"] or match["h3"] or match["h4"]
    minute = int(match["m1"] or match["m2"] or match["m3"] or 0)
    hour = int(hour_text)
    ampm = (match["ampm"] or "").replace(".", "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif match["h4"] and 1 <= hour <= 7:
        hour += 12  # "at 3": business hours, so the afternoon
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _day(word: str, today: date) -> date:
    key = word.lower().replace("’", "'").replace("apres", "après").replace("après demain",
                                                                           "après-demain")
    if key in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[key])
    ahead = (_WEEKDAYS[key] - today.weekday()) % 7 or 7  # "on Monday" said on a Monday: next
    return today + timedelta(days=ahead)


def read_callback(text: str, now: datetime, tz: str) -> CallbackAsk | None:
    """The callback the message asks for, read in time zone `tz` against `now` (aware)."""
    if not is_callback_request(text):
        return None
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    phone_match = _PHONE.search(text)
    phone = re.sub(r"[^\d+]", "", phone_match.group()) if phone_match else None
    rest = _PHONE.sub(" ", text)
    relative = _IN.search(rest)
    if relative:
        n_text = relative["n"].lower()
        n = int(n_text) if n_text.isdigit() else 1
        unit = relative["unit"].lower()
        delta = timedelta(hours=n) if unit.startswith(("h", "heure")) else timedelta(minutes=n)
        return CallbackAsk(at=(now + delta).astimezone(UTC), timezone=tz,
                           asked=relative.group()[:200], phone=phone)
    day_match, part_match, clock_match = _DAY.search(rest), _PART.search(rest), \
        _CLOCK.search(rest)
    clock = _clock_time(clock_match) if clock_match else None
    if clock_match and clock and part_match and clock.hour < 12 \
            and part_match[1].lower() in ("afternoon", "evening", "tonight", "après-midi",
                                          "apres-midi", "soir", "ce soir"):
        clock = time(clock.hour + 12, clock.minute)  # "at 3 in the afternoon"
    at_time = clock or (PARTS[part_match[1].lower()] if part_match else None)
    words = " ".join(m.group() for m in (day_match, part_match, clock_match) if m)[:200]
    if at_time is None and day_match is None:
        return CallbackAsk(at=None, timezone=tz, asked="", phone=phone, problem="no_time")
    at_time = at_time or PARTS["morning"]
    day = _day(day_match[1], local_now.date()) if day_match else local_now.date()
    local = datetime.combine(day, at_time, tzinfo=zone)
    if local <= local_now:
        if day_match is not None:
            return CallbackAsk(at=None, timezone=tz, asked=words, phone=phone, problem="past")
        local = datetime.combine(day + timedelta(days=1), at_time, tzinfo=zone)
    return CallbackAsk(at=local.astimezone(UTC), timezone=tz, asked=words, phone=phone)
