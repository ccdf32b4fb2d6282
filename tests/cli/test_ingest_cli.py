"""`hitl ingest` as a person runs it (in this process, Typer's runner): typed CSV stored with the
right types, a bad row stores nothing unless --skip-bad-rows, and the report says where each
lead went (band, route and owner, approval card) with a summary line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.conftest import LEAD_ADA, event, hand_raise, make_settings, recent


@pytest.fixture(autouse=True)
def _unfreeze() -> Iterator[None]:
    """`hitl ingest` freezes what it loaded (hitl.commands.data.loading): a one-shot process
    exits after it, this test process goes on."""
    import gc

    yield
    gc.unfreeze()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`hitl ...` in this process, on a fresh SQLite file and a Chroma folder that does not
    exist, configured from the environment as a user's shell would."""
    import os

    for name in list(os.environ):
        if name.startswith(("HITL_", "SLACK_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HITL_DATABASE_URL", f"sqlite:///{tmp_path / 'hitl.db'}")
    monkeypatch.setenv("HITL_CHROMA_PATH", str(tmp_path / "chroma"))
    monkeypatch.setenv("HITL_EMBEDDINGS", "local")

    def run(*args: str) -> Any:
        from hitl.cli import app

        return CliRunner().invoke(app, ["ingest", *args])

    return run


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    """The database the CLI wrote, read through a runtime of the same settings."""
    from hitl.wiring import build_runtime

    rt = build_runtime(make_settings(tmp_path))
    yield rt
    rt.close()


def _count(rt: Any, table: Any) -> int:
    if rt.db.file is None or not rt.db.file.exists():
        return 0
    rt.db.upgrade()
    with rt.db.read() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


CSV_HEADER = ("event_id,type,occurred_at,email,email_opt_in,employees,country,change_pct,"
              "metric,properties.trial:boolean,properties.seats:integer,properties.page\n")
USAGE_ROW = 'c-1,product_usage,2026-11-20 14:03,zoe@zeta.io,,"1,500",us,+20%,seats,YES,12,/admin\n'


def test_typed_csv_is_stored_with_the_api_types(cli: Any, store: Any, tmp_path: Path) -> None:
    from store.tables import Event, Lead

    path = tmp_path / "events.csv"
    path.write_text(CSV_HEADER + USAGE_ROW +
                    "c-2,consent,2026-11-20T15:00:00Z,zoe@zeta.io,,,,,,,,\n", encoding="utf-8")
    refused = cli(str(path), "--no-process")
    assert refused.exit_code == 1
    assert "row 2, column occurred_at: '2026-11-20 14:03' has no time zone" in refused.stderr
    assert "row 3, column email_opt_in (properties.email_opt_in): properties.email_opt_in " \
           "is required for a consent event" in refused.stderr
    assert "pass --timezone" in refused.stderr and "nothing was ingested" in refused.stderr
    assert _count(store, Event) == 0

    path.write_text(CSV_HEADER + USAGE_ROW +
                    "c-2,consent,2026-11-20T15:00:00Z,zoe@zeta.io,no,,,,,,,\n"
                    "c-3,meeting_booked,1795190580,zoe@zeta.io,,,,,,,,\n", encoding="utf-8")
    done = cli(str(path), "--no-process", "--timezone", "Europe/Berlin")
    assert done.exit_code == 0, done.output
    assert "accepted 3, duplicates 0" in done.stdout
    with store.db.read() as session:
        events = {e.event_id: e for e in session.scalars(select(Event))}
        lead = session.scalar(select(Lead))
    assert lead.email == "zoe@zeta.io" and lead.employees == 1500 and lead.country == "US"
    usage = events["c-1"]
    assert usage.properties == {"change_pct": 20, "metric": "seats", "trial": True,
                                "seats": 12, "page": "/admin"}
    assert isinstance(usage.properties["seats"], int)
    assert usage.occurred_at.isoformat() == "2026-11-20T13:03:00+00:00"  # Berlin is UTC+1
    assert events["c-2"].properties == {"email_opt_in": False}
    assert events["c-3"].properties == {}  # empty cells are absent, not ""
    assert events["c-3"].occurred_at.timestamp() == 1795190580
    assert not (tmp_path / "chroma").exists()


def test_jsonl_bad_line_stores_nothing_then_skip_bad_rows_reports_it(
        cli: Any, store: Any, tmp_path: Path) -> None:
    from store.tables import Event

    rows = [json.dumps(e) for e in hand_raise(at=recent(minutes=1))]
    rows.insert(1, json.dumps(event("x-1", "form_submit", at=recent(minutes=2),
                                    lead={**LEAD_ADA, "employees": "lots"}, form="webinar")))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    refused = cli(str(path))
    assert refused.exit_code == 1
    assert "line 2: lead.employees: Input should be a valid integer" in refused.stderr
    assert "line 2: properties: properties.form must be one of demo" in refused.stderr
    assert "nothing was ingested" in refused.stderr and "--skip-bad-rows" in refused.stderr
    assert _count(store, Event) == 0

    skipped = cli(str(path), "--skip-bad-rows", "--no-process")
    assert skipped.exit_code == 0, skipped.output
    assert "skipping 1 bad line(s): 2" in skipped.stderr
    assert "accepted 3, duplicates 0" in skipped.stdout
    assert _count(store, Event) == 3


def test_the_report_names_band_route_owner_and_card_per_lead(
        cli: Any, store: Any, tmp_path: Path) -> None:
    from store.tables import Approval

    student = {"email": "gina.ruiz@state.edu", "first_name": "Gina", "title": "PhD Student",
               "company": "State University", "domain": "state.edu", "country": "US"}
    browser = {"email": "finn@tinybakery.co", "first_name": "Finn", "title": "Owner",
               "company": "Tiny Bakery", "domain": "tinybakery.co", "country": "US",
               "employees": 4}
    rows = [*hand_raise(at=recent(minutes=1)),
            event("s-1", "form_submit", at=recent(minutes=3), lead=student, form="demo"),
            event("n-1", "page_view", at=recent(days=3), lead=browser,
                  url="https://vendor.example/blog")]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    done = cli(str(path))
    assert done.exit_code == 0, done.output
    lines = {line.split()[0]: line for line in done.stdout.splitlines()
             if line.startswith("  ")}
    ada, gina, finn = (lines[e] for e in ("ada@acme.io", "gina.ruiz@state.edu",
                                          "finn@tinybakery.co"))
    with store.db.read() as session:
        [card] = session.scalars(select(Approval)).all()
    owner = store.roster.find(card.assignee)
    assert f"hand_raise -> {owner.name}" in ada
    assert f"card created: {card.id} pending for {owner.name}" in ada
    assert ada.split()[1] in ("A", "B")
    assert "disqualified (student)" in gina and "no card" in gina
    assert "nurture" in finn and "no card" in finn
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("3 lead(s): bands ")
    assert "disqualified 1" in summary and "1 approval card(s) created" in summary
    assert not (tmp_path / "chroma").exists()  # nothing indexed: Chroma not opened

    again = cli(str(path))
    assert "accepted 0, duplicates 5" in again.stdout
    assert f"card (earlier): {card.id} pending" in again.stdout
    assert again.stdout.strip().endswith("0 approval card(s) created")


def test_help_documents_the_csv_columns_and_types(cli: Any) -> None:
    text = cli("--help").stdout
    for words in ("event_id, type, occurred_at", "lead.email", "properties.NAME",
                  "properties.utm.source", "true/false, yes/no, 1/0", "1,200",
                  "2026-11-20T14:03:00Z", "--timezone", "--skip-bad-rows", ":boolean"):
        assert words in text, words


def test_an_unreadable_file_is_refused_whole(cli: Any, store: Any, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"event_id,type\n\xff\xfe,x\n")
    done = cli(str(path))
    assert done.exit_code == 1 and "not a readable UTF-8 event file" in done.stderr
    assert not (tmp_path / "hitl.db").exists()


# What a one-shot ingest of hand-raises must not load.
UNUSED = ("chromadb", "numpy", "service.rescue", "service.notices", "service.support_notices", "service.erasure_cleanup",
          "service.assistant_execution", "service.crm_inbound")


@pytest.mark.slow
def test_a_real_ingest_loads_no_chroma_when_nothing_is_indexed(tmp_path: Path) -> None:
    """In its own process, as `hitl ingest` runs: leads processed and reported, and neither
    chromadb nor numpy loaded (nothing is indexed, so no content library is opened), nor the
    code of job kinds a lead's processing never calls (the SLA rescue and its email notices,
    erasure, the assistant's approved actions, HubSpot's deliveries: service/worker.py)."""
    import os
    import subprocess
    import sys

    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in hand_raise(at=recent(minutes=1))),
                    encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITL_", "SLACK_", "OPENAI_"))}
    env.update(HITL_DATABASE_URL=f"sqlite:///{tmp_path / 'hitl.db'}",
               HITL_CHROMA_PATH=str(tmp_path / "chroma"), HITL_EMBEDDINGS="local")
    script = ("import sys\nsys.argv = ['hitl', 'ingest', sys.argv[1]]\n"
              "from hitl.cli import main\n"
              "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
              f"print('LOADED', sorted(m for m in {UNUSED!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "card created: ap_" in done.stdout and "1 approval card(s) created" in done.stdout
    assert "LOADED []" in done.stdout
    assert not (tmp_path / "chroma").exists()
