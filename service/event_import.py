"""Event files (CSV and JSONL) read into the API's own event models: `POST /v1/events`,
`hitl ingest` and any other surface validate an event the same way (service/schemas.py).

JSONL: one event per line, exactly the JSON `POST /v1/events` takes (a line may also be a
`{"events": [...]}` batch). Blank lines are skipped. Problems name the line and the field.

CSV: one event per row, a header row first. Text cells are coerced to the type the API expects
(service/csv_cells.py has the rules: numbers, booleans, dates and times); an empty cell is an
absent value. Columns:

- `event_id`, `type`, `occurred_at` (required);
- the lead: `email` (required), `first_name`, `last_name`, `company`, `title`, `domain`,
  `country`, `employees` (integer), `industry`, `timezone`; each may be written `lead.NAME`;
- properties: `properties.NAME` (or a bare `NAME` that is none of the above), nested with dots
  (`properties.utm.source`); a property's type comes from the event type's rules
  (`change_pct`, `sentiment`: numbers; `email_opt_in`: boolean), else from a suffix on the
  header (`:number`, `:integer`, `:boolean`, `:datetime`, `:json`, `:text`), else it is text;
  a `properties` column may hold a JSON object, merged under the named columns.

Problems name the row (the header is row 1, as a spreadsheet numbers them) and the column.
Reading never stores anything: the caller decides what to do with the rows that had problems.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from service.csv_cells import CellError, coerce_cell, parse_column
from service.schemas import EventIn

FileFormat = Literal["csv", "jsonl"]
MAX_PROBLEMS_SHOWN = 20


class EventFileError(ValueError):
    """The file as a whole cannot be read (not UTF-8, not CSV, a broken header); nothing was
    stored. The message is safe to print."""


@dataclass(frozen=True)
class RowProblem:
    """One problem of one row: `row N, column C (api.field): message` for CSV, `line N: field:
    message` for JSONL."""

    kind: FileFormat
    number: int
    column: str | None
    message: str
    field: str | None = None

    def __str__(self) -> str:
        if self.kind == "jsonl":
            where = f"line {self.number}"
            return f"{where}: {_printable(self.column)}: {self.message}" if self.column else \
                f"{where}: {self.message}"
        where = f"row {self.number}"
        if self.column is None:
            return f"{where}: {self.message}"
        label = f"column {_printable(self.column)}"
        if self.field and self.field != self.column:
            label += f" ({_printable(self.field)})"
        return f"{where}, {label}: {self.message}"


@dataclass
class EventFile:
    """What a file held: the valid events in file order, with their row/line numbers, and every
    problem of the other rows."""

    path: Path
    kind: FileFormat
    rows: int = 0
    events: list[EventIn] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.number for p in self.problems})

    def problem_text(self, limit: int = MAX_PROBLEMS_SHOWN) -> str:
        shown = "\n".join(str(p) for p in self.problems[:limit])
        more = len(self.problems) - limit
        return shown + (f"\n... and {more} more" if more > 0 else "")


def detect_format(path: Path) -> FileFormat:
    return "csv" if path.suffix.lower() in (".csv", ".tsv") else "jsonl"


def read_event_file(path: Path, *, fmt: FileFormat | None = None,
                    assume_tz: str | None = None) -> EventFile:
    """Every row of a CSV or JSONL file validated as the API validates it. `assume_tz` (an IANA
    name) is the zone of CSV times written without one (without it they are a problem, as in the
    API). Raises EventFileError only when the file itself cannot be read."""
    kind = fmt or detect_format(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EventFileError(f"{path}: not a readable UTF-8 event file ({exc}); nothing was "
                             "ingested") from None
    result = EventFile(path=path, kind=kind)
    if kind == "csv":
        _read_csv(text, result, assume_tz, delimiter="\t" if path.suffix.lower() == ".tsv"
                  else ",")
    else:
        _read_jsonl(text, result)
    return result


# -- JSONL -----------------------------------------------------------------------------------

def _read_jsonl(text: str, result: EventFile) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        result.rows += 1
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            result.problems.append(RowProblem("jsonl", number, None, f"not JSON ({exc.msg})"))
            continue
        batch = isinstance(raw, dict) and isinstance(raw.get("events"), list)
        for index, item in enumerate(raw["events"] if batch else [raw]):
            where: tuple[str | int, ...] = ("events", index) if batch else ()
            try:
                event = EventIn.model_validate(item)
            except ValidationError as exc:
                for err in exc.errors():
                    path = ".".join(str(p) for p in (*where, *err["loc"]))
                    result.problems.append(RowProblem("jsonl", number, path or None,
                                                      _message(err)))
                continue
            result.events.append(event)
            result.numbers.append(number)


# -- CSV -------------------------------------------------------------------------------------

def _read_csv(text: str, result: EventFile, assume_tz: str | None, *, delimiter: str) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = [parse_column(name) for name in header]
        _check_header(result.path, header, columns)
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            result.rows += 1
            _csv_row(number, header, columns, cells, result, assume_tz)
    except csv.Error as exc:
        raise EventFileError(f"{result.path}: not a readable CSV file (row "
                             f"{reader.line_num}: {exc}); nothing was ingested") from None


def _check_header(path: Path, header: list[str], columns: list[Any]) -> None:
    seen: dict[str, str] = {}
    for name, column in zip(header, columns, strict=True):
        if column is None or column.field == "properties":  # the JSON column merges
            continue
        clash = next((other for other in seen if other == column.field
                      or other.startswith(column.field + ".")
                      or column.field.startswith(other + ".")), None)
        if clash is not None:
            raise EventFileError(f"{path}: columns {_printable(seen[clash])} and "
                                 f"{_printable(name)} both set {_printable(column.field)}; "
                                 "nothing was ingested")
        seen[column.field] = name


def _csv_row(number: int, header: list[str], columns: list[Any], cells: list[str],
             result: EventFile, assume_tz: str | None) -> None:
    problems: list[RowProblem] = []
    if len(cells) > len(header):
        extra = [c for c in cells[len(header):] if c.strip()]
        if extra:
            problems.append(RowProblem("csv", number, None,
                                       f"has {len(cells)} cells but the header names "
                                       f"{len(header)} columns"))
    raw: dict[str, Any] = {"lead": {}, "properties": {}}
    kind = _cell(columns, cells, "type")
    by_field: dict[str, str] = {}
    json_props: dict[str, Any] = {}
    for index, (name, column, cell) in enumerate(zip(header, columns, cells, strict=False)):
        if column is None:
            if cell.strip():
                problems.append(RowProblem("csv", number, f"#{index + 1}",
                                           "has a value but the column has no name"))
            continue
        by_field[column.field] = name
        if not cell.strip():
            continue  # an empty cell is an absent value
        try:
            value = coerce_cell(column, cell, event_type=kind, assume_tz=assume_tz)
        except CellError as exc:
            problems.append(RowProblem("csv", number, name, str(exc), column.field))
            continue
        if column.field == "properties":
            json_props = value
        else:
            _put(raw, column.path, value)
    raw["properties"] = {**json_props, **raw["properties"]}
    failed = {p.field for p in problems}
    try:
        event = EventIn.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            path = _error_field(err)
            if path in failed:
                continue  # its cell was already refused, with a better message
            problems.append(RowProblem("csv", number, by_field.get(path, path), _message(err),
                                       path))
    else:
        if not problems:
            result.events.append(event)
            result.numbers.append(number)
    result.problems.extend(problems)


def _cell(columns: list[Any], cells: list[str], field_name: str) -> str | None:
    for column, cell in zip(columns, cells, strict=False):
        if column is not None and column.field == field_name and cell.strip():
            return cell.strip()
    return None


def _put(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = raw
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


_PROPERTY_IN_MESSAGE = re.compile(r"properties\.([^\s:]+)")


def _error_field(err: Any) -> str:
    """The API field a pydantic error is about: `lead.email`, `occurred_at`, or for the
    per-type property rules (raised on `properties`) the property they name."""
    path = ".".join(str(p) for p in err["loc"])
    if path == "properties":
        found = _PROPERTY_IN_MESSAGE.search(str(err.get("msg", "")))
        if found:
            return f"properties.{found.group(1)}"
    return path


def _message(err: Any) -> str:
    return str(err["msg"]).removeprefix("Value error, ")


def _printable(text: str) -> str:
    """A header name fit for a terminal: hostile names are quoted and cut."""
    if text and len(text) <= 64 and text.isprintable():
        return text
    return repr(text[:64])
