"""Event files for callers that want all or nothing in one call. Reading and validation live in
the service layer (service/event_import.py), so every surface validates a file as the API
validates `POST /v1/events`."""

from __future__ import annotations

from pathlib import Path

from service.event_import import EventFileError, read_event_file
from service.schemas import EventIn

__all__ = ["EventFileError", "read_events"]


def read_events(path: Path) -> list[EventIn]:
    """Every event of a JSONL or CSV file, or EventFileError listing the problems (each naming
    its line or row and field): all or nothing."""
    parsed = read_event_file(path)
    if parsed.problems:
        raise EventFileError(f"{path}: {len(parsed.problems)} problem(s) in "
                             f"{len(parsed.bad_rows)} of {parsed.rows} rows, nothing was "
                             f"ingested:\n{parsed.problem_text()}")
    if not parsed.events:
        raise EventFileError(f"{path}: no events found")
    return parsed.events
