"""CSV cells to the types the event API expects: which column sets which field, and how a text
cell becomes a number, a boolean, a date and time or JSON (service/event_import.py reads files).

- numbers: `42`, `-3.5`, `1,200` (thousands grouped with commas), `1_200`, `12%` (= 12);
- booleans: `true`/`false`, `yes`/`no`, `y`/`n`, `t`/`f`, `on`/`off`, `1`/`0` (any case);
- dates and times: ISO 8601 (`2026-11-20T14:03:00Z`, `2026-11-20 14:03:00+01:00`,
  `2026-11-20` = midnight), `2026/11/20 14:03`, a trailing `UTC`/`GMT`, RFC 2822 (`Fri, 20 Nov
  2026 14:03:00 +0000`), Unix seconds (`1795190580`) or milliseconds. `20/11/2026` is refused
  (day and month order is ambiguous). A time with no zone is refused unless the caller names
  the zone the file's times are in (`assume_tz`).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service import schemas

EVENT_FIELDS = ("event_id", "type", "occurred_at")
LEAD_FIELDS = tuple(schemas.LeadIn.model_fields)
# Header suffixes that type a property column (`properties.seats:number`).
TYPE_SUFFIXES = {
    "text": "text", "str": "text", "string": "text",
    "number": "number", "float": "number",
    "int": "integer", "integer": "integer",
    "bool": "boolean", "boolean": "boolean",
    "date": "datetime", "datetime": "datetime",
    "json": "json",
}
_INTEGER_FIELDS = {"lead.employees"}
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


class CellError(ValueError):
    """A cell that cannot become its column's type; the message is safe to print."""


@dataclass(frozen=True)
class Column:
    """What a header cell sets: `field` is the API's name for it (`lead.email`,
    `properties.utm.source`), `path` the keys into the event, `declared` a `:type` suffix."""

    field: str
    path: tuple[str, ...]
    declared: str | None = None


def parse_column(header: str) -> Column | None:
    """The field a header names (None for an unnamed column). Event and lead names match in any
    case; property names keep theirs."""
    name = header.strip()
    if not name:
        return None
    declared = None
    base, sep, suffix = name.rpartition(":")
    if sep and base and suffix.strip().lower() in TYPE_SUFFIXES:
        name, declared = base.strip(), TYPE_SUFFIXES[suffix.strip().lower()]
    lower = name.lower()
    if lower in EVENT_FIELDS:
        return Column(lower, (lower,), declared)
    bare = lower.removeprefix("lead.")
    if bare in LEAD_FIELDS and (lower.startswith("lead.") or lower == bare):
        return Column(f"lead.{bare}", ("lead", bare), declared)
    if lower == "properties":
        return Column("properties", ("properties",), "json")
    keys = name[len("properties."):] if lower.startswith("properties.") else name
    parts = tuple(part for part in keys.split("."))
    if any(not part for part in parts):  # "properties..x", "a."
        parts = (keys,)
    return Column("properties." + ".".join(parts), ("properties", *parts), declared)


def coerce_cell(column: Column, cell: str, *, event_type: str | None,
                assume_tz: str | None) -> Any:
    """The value of a non-empty cell for `column`, or CellError saying why not."""
    text = cell.strip()
    if column.field == "occurred_at":
        return parse_datetime(text, assume_tz)
    if column.field in _INTEGER_FIELDS:
        return parse_number(text, integer=True)
    if column.path[0] != "properties":
        return text
    kind = column.declared or _rule_type(event_type, column.path)
    if kind == "json":
        return _parse_json(text, want_object=column.field == "properties")
    if kind == "number":
        return parse_number(text)
    if kind == "integer":
        return parse_number(text, integer=True)
    if kind == "boolean":
        return parse_bool(text)
    if kind == "datetime":
        return parse_datetime(text, assume_tz).astimezone(UTC).isoformat()
    return text


def _rule_type(event_type: str | None, path: tuple[str, ...]) -> str:
    """The type the API's per-event-type rules give a top-level property (service/schemas.py),
    else text."""
    if event_type is None or len(path) != 2:
        return "text"
    rules = schemas._PROPERTY_RULES.get(event_type, {})  # the same table the API checks
    rule = rules.get(path[1])
    if rule is None:
        return "text"
    types = rule[1]
    if bool in types:
        return "boolean"
    if int in types or float in types:
        return "number"
    return "text"


def _shown(text: str) -> str:
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")


def parse_number(text: str, *, integer: bool = False) -> int | float:
    plain = text.replace("_", "")
    if _GROUPED.fullmatch(plain):
        plain = plain.replace(",", "")
    plain = plain.removesuffix("%").strip()
    value: int | float
    try:
        value = int(plain)
    except ValueError:
        try:
            value = float(plain)
        except ValueError:
            raise CellError(f"{_shown(text)} is not a number") from None
        if not math.isfinite(value):
            raise CellError(f"{_shown(text)} is not a finite number") from None
    if integer and isinstance(value, float):
        if not value.is_integer():
            raise CellError(f"{_shown(text)} is not a whole number")
        value = int(value)
    return value


def parse_bool(text: str) -> bool:
    lower = text.lower()
    if lower in _TRUE:
        return True
    if lower in _FALSE:
        return False
    raise CellError(f"{_shown(text)} is not a boolean (use true/false, yes/no or 1/0)")


def _parse_json(text: str, *, want_object: bool) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CellError(f"is not JSON ({exc.msg})") from None
    if want_object and not isinstance(value, dict):
        raise CellError("must be a JSON object, e.g. {\"form\": \"demo\"}")
    return value


_EPOCH_S = re.compile(r"\d{9,10}(\.\d+)?")
_EPOCH_MS = re.compile(r"\d{12,13}")
_YMD = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(.*)")
_ZONE_WORD = re.compile(r"\s*\b(UTC|GMT)$", re.IGNORECASE)
_DMY = re.compile(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b.*")


def parse_datetime(text: str, assume_tz: str | None = None) -> datetime:
    """A datetime from the forms listed in this module's docstring, aware (see `assume_tz`)."""
    if _EPOCH_S.fullmatch(text):
        return datetime.fromtimestamp(float(text), UTC)
    if _EPOCH_MS.fullmatch(text):
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    value = _ZONE_WORD.sub("+00:00", text)
    ymd = _YMD.fullmatch(value)
    if ymd:
        year, month, day, rest = ymd.groups()
        value = f"{year}-{int(month):02d}-{int(day):02d}{rest}"
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
    if parsed is None:
        if _DMY.fullmatch(text):
            raise CellError(f"{_shown(text)}: the order of day and month is ambiguous; write "
                            "the date as YYYY-MM-DD (ISO 8601)")
        raise CellError(f"{_shown(text)} is not a date and time (use ISO 8601, e.g. "
                        "2026-11-20T14:03:00Z)")
    if parsed.tzinfo is None:
        if assume_tz is None:
            raise CellError(f"{_shown(text)} has no time zone (write one, e.g. "
                            "2026-11-20T14:03:00Z or +01:00, or name the zone of the file's "
                            "times)")
        parsed = parsed.replace(tzinfo=zone(assume_tz))
    return parsed


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or CellError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CellError(f"unknown time zone {_shown(name)} (use an IANA name such as UTC or "
                        "America/New_York)") from None
