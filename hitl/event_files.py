"""Reading event files (JSONL or CSV) for `hitl ingest`, validating every row up front."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.schemas import EventIn, LeadIn

_LEAD_FIELDS = set(LeadIn.model_fields)
_EVENT_FIELDS = {"event_id", "type", "occurred_at"}


class EventFileError(ValueError):
    pass


def _csv_row(row: dict[str, str]) -> dict[str, Any]:
    """CSV columns: event_id, type, occurred_at, the lead fields, then `properties` (JSON) or
    any other column as a property."""
    event: dict[str, Any] = {k: row[k] for k in _EVENT_FIELDS if row.get(k)}
    lead: dict[str, Any] = {k: v for k, v in row.items()
                            if k in _LEAD_FIELDS and v not in (None, "")}
    if "employees" in lead:
        lead["employees"] = int(lead["employees"])
    properties: dict[str, Any] = json.loads(row["properties"]) if row.get("properties") else {}
    for key, value in row.items():
        if key not in _EVENT_FIELDS | _LEAD_FIELDS | {"properties"} and value not in (None, ""):
            properties[key] = value
    return {**event, "lead": lead, "properties": properties}


def read_events(path: Path) -> list[EventIn]:
    """Every event of a JSONL or CSV file, validated as `POST /v1/events` validates them (lead
    emails by service/addresses.py), or EventFileError listing the problems: all or nothing."""
    try:
        return _read_events(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        # A hostile or mis-saved file is a clear refusal, not a traceback.
        raise EventFileError(f"{path}: not a readable UTF-8 event file ({exc}); nothing was "
                             "ingested") from None


def _read_events(path: Path) -> list[EventIn]:
    problems: list[str] = []
    events: list[EventIn] = []
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            rows: list[tuple[int, Any]] = []
            for number, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    rows.append((number, _csv_row(row)))
                except (ValueError, json.JSONDecodeError) as exc:
                    problems.append(f"line {number}: {exc}")
        else:
            rows = []
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    problems.append(f"line {number}: not JSON ({exc.msg})")
    for number, raw in rows:
        try:
            events.append(EventIn.model_validate(raw))
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(f"line {number}: {where}: "
                                f"{err['msg'].removeprefix('Value error, ')}")
    if problems:
        shown = "\n".join(problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise EventFileError(f"{path}: {len(problems)} problem(s), nothing was ingested:\n"
                             f"{shown}{more}")
    if not events:
        raise EventFileError(f"{path}: no events found")
    return events
