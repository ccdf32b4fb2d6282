"""Event files read as the API reads events (service/event_import.py): CSV cells typed from text,
JSONL exactly the API's JSON, every problem naming its row and column (or line and field)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from service.csv_cells import CellError, parse_bool, parse_datetime, parse_number
from service.event_import import read_event_file
from tests.conftest import LEAD_ADA, T0, event

HEADER = ("event_id,type,occurred_at,email,company,employees,change_pct,metric,"
          "properties.seats:number,properties.trial:boolean,properties.renewal:datetime,"
          "properties.utm.source,properties.plan")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_cells_become_the_types_the_api_expects(tmp_path: Path) -> None:
    path = write(tmp_path / "usage.csv", HEADER + "\n"
                 'u-1,product_usage,2026-11-20 14:03 UTC,Ada@Acme.io,Acme,"1,200",12.5%,seats,'
                 "40,yes,2027-01-31T00:00:00Z,linkedin,\n"
                 "u-2,product_usage,1795190580,bob@acme.io,,850.0,-3,api_calls,7,0,,,pro\n")
    parsed = read_event_file(path)
    assert parsed.problems == [] and parsed.numbers == [2, 3]
    first, second = parsed.events
    assert first.occurred_at == datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
    assert first.lead.email == "ada@acme.io" and first.lead.employees == 1200
    assert first.properties == {
        "change_pct": 12.5, "metric": "seats", "seats": 40, "trial": True,
        "renewal": "2027-01-31T00:00:00+00:00",
        "utm": {"source": "linkedin"}}
    assert isinstance(first.properties["seats"], int)
    assert first.properties["trial"] is True
    # Empty cells are absent: no company, no renewal, no utm on the second row.
    assert second.lead.company is None and second.lead.employees == 850
    assert second.properties == {"change_pct": -3, "metric": "api_calls", "seats": 7,
                                 "trial": False, "plan": "pro"}
    assert second.occurred_at == datetime.fromtimestamp(1795190580, UTC)


def test_csv_booleans_and_numbers_by_the_event_rules(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv",
                 "event_id,type,occurred_at,lead.email,email_opt_in,subject,sentiment,status\n"
                 "c-1,consent,2026-11-20T14:03:00+01:00,ada@acme.io,No,,,\n"
                 "c-2,support_ticket,2026-11-20T15:00:00Z,ada@acme.io,,Broken,-0.5,open\n")
    parsed = read_event_file(path)
    assert parsed.problems == []
    consent, ticket = parsed.events
    assert consent.properties == {"email_opt_in": False}
    assert consent.occurred_at == datetime(2026, 11, 20, 13, 3, tzinfo=UTC)
    assert ticket.properties == {"subject": "Broken", "sentiment": -0.5, "status": "open"}


def test_csv_times_without_a_zone_need_the_files_zone(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "event_id,type,occurred_at,email\n"
                                     "m-1,meeting_booked,2026-11-20 09:30,ada@acme.io\n")
    refused = read_event_file(path)
    assert [str(p) for p in refused.problems] == [
        "row 2, column occurred_at: '2026-11-20 09:30' has no time zone (write one, e.g. "
        "2026-11-20T14:03:00Z or +01:00, or name the zone of the file's times)"]
    [meeting] = read_event_file(path, assume_tz="America/New_York").events
    assert meeting.occurred_at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def test_every_bad_cell_is_named_by_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv",
                 "event_id,type,occurred_at,email,employees,properties.trial:bool,country\n"
                 "ok-1,meeting_booked,2026-11-20T14:03:00Z,ada@acme.io,10,true,US\n"
                 "b-1,form_submit,20/11/2026,ada@acme.io,ten,maybe,USA\n"
                 "b-2,nope,2026-11-20T14:03:00Z,not-an-address,,,\n")
    parsed = read_event_file(path)
    assert [e.event_id for e in parsed.events] == ["ok-1"] and parsed.bad_rows == [3, 4]
    text = [str(p) for p in parsed.problems]
    assert "row 3, column occurred_at: '20/11/2026': the order of day and month is " \
           "ambiguous; write the date as YYYY-MM-DD (ISO 8601)" in text
    assert "row 3, column employees (lead.employees): 'ten' is not a number" in text
    assert "row 3, column properties.trial:bool (properties.trial): 'maybe' is not a " \
           "boolean (use true/false, yes/no or 1/0)" in text
    assert "row 3, column country (lead.country): must be a two-letter ISO country code " \
           "such as US" in text
    # The event rules speak of the property column the form should have been in.
    assert "row 3, column properties.form: properties.form is required for a form_submit " \
           "event" in text
    assert any(t.startswith("row 4, column type: Input should be") for t in text)
    assert any(t.startswith("row 4, column email (lead.email): ") for t in text)


def test_hostile_header_names_and_values_are_quoted_in_problems(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "event_id,type,occurred_at,email,\x1b[31mevil:int\n"
                                     "h-1,meeting_booked,2026-11-20T14:03:00Z,ada@acme.io,"
                                     "\x1b[2Jx\n")
    [problem] = read_event_file(path).problems
    assert "\x1b" not in str(problem) and "\\x1b" in str(problem)


def test_jsonl_is_the_api_json_with_line_and_field_named(tmp_path: Path) -> None:
    good = event("j-1", "product_usage", at=T0, metric="seats", change_pct=12.5)
    batch = {"events": [event("j-2", "consent", at=T0, email_opt_in=True),
                        event("j-3", "consent", at=T0, email_opt_in="yes")]}
    bad = {**event("j-4", "page_view", at=T0), "lead": {**LEAD_ADA, "employees": "many"}}
    path = write(tmp_path / "e.jsonl", "\n".join([json.dumps(good), "", json.dumps(batch),
                                                  json.dumps(bad), "{oops"]) + "\n")
    parsed = read_event_file(path)
    assert [e.event_id for e in parsed.events] == ["j-1", "j-2"]
    assert parsed.events[0].properties == {"metric": "seats", "change_pct": 12.5}
    assert parsed.numbers == [1, 3] and parsed.bad_rows == [3, 4, 5]
    text = [str(p) for p in parsed.problems]
    # JSONL is not coerced: "yes" is not the boolean the API takes.
    assert "line 3: events.1.properties: properties.email_opt_in must be bool" in text
    assert any(t.startswith("line 4: lead.employees: Input should be a valid integer")
               for t in text)
    assert any(t.startswith("line 4: properties: properties.url is required") for t in text)
    assert text[-1].startswith("line 5: not JSON")


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-20T14:03:00Z", datetime(2026, 11, 20, 14, 3, tzinfo=UTC)),
    ("2026-11-20 14:03:00+01:00", datetime(2026, 11, 20, 13, 3, tzinfo=UTC)),
    ("2026/11/20 14:03 GMT", datetime(2026, 11, 20, 14, 3, tzinfo=UTC)),
    ("2026-1-5T08:00:00-0500", datetime(2026, 1, 5, 13, 0, tzinfo=UTC)),
    ("Fri, 20 Nov 2026 14:03:00 +0000", datetime(2026, 11, 20, 14, 3, tzinfo=UTC)),
    ("1795190580000", datetime.fromtimestamp(1795190580, UTC)),
])
def test_common_date_forms(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


def test_dates_without_a_zone_take_the_given_one() -> None:
    assert parse_datetime("2026-11-20", "Europe/Berlin") == datetime(
        2026, 11, 20, tzinfo=timezone(timedelta(hours=1)))
    for refused in ("2026-11-20", "11/20/2026", "soon", ""):
        with pytest.raises(CellError):
            parse_datetime(refused)


def test_numbers_and_booleans() -> None:
    assert parse_number("1,234,567") == 1234567 and parse_number("1_000") == 1000
    assert parse_number("-0.25") == -0.25 and parse_number("7.0", integer=True) == 7
    for refused in ("1,23", "nan", "inf", "12 apples"):
        with pytest.raises(CellError):
            parse_number(refused)
    with pytest.raises(CellError, match="whole number"):
        parse_number("2.5", integer=True)
    assert [parse_bool(v) for v in ("TRUE", "Yes", "1", "off", "N", "0")] == \
        [True, True, True, False, False, False]


def test_tsv_json_properties_and_header_mistakes(tmp_path: Path) -> None:
    from service.event_import import EventFileError

    tsv = write(tmp_path / "e.tsv", "event_id\ttype\toccurred_at\tEmail\tproperties\tform\n"
                                    't-1\tform_submit\t2026-11-20T14:03:00Z\tada@acme.io\t'
                                    '{"form": "contact", "score": 3}\tdemo\n')
    [submit] = read_event_file(tsv).events
    assert submit.properties == {"form": "demo", "score": 3}  # the named column wins

    twice = write(tmp_path / "twice.csv", "event_id,type,occurred_at,email,lead.email\n")
    with pytest.raises(EventFileError, match="columns email and lead.email both set lead.email"):
        read_event_file(twice)

    nested = write(tmp_path / "nested.csv", "event_id,properties.utm,properties.utm.source\n")
    with pytest.raises(EventFileError, match="columns properties.utm and properties.utm.source"):
        read_event_file(nested)

    ragged = write(tmp_path / "ragged.csv", "event_id,type,occurred_at,email,\n"
                                            "r-1,meeting_booked,2026-11-20T14:03:00Z,a@b.io,x,y\n")
    assert [str(p) for p in read_event_file(ragged).problems] == [
        "row 2: has 6 cells but the header names 5 columns",
        "row 2, column #5: has a value but the column has no name"]
