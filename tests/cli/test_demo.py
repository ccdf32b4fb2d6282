"""`hitl demo` (hitl/demo.py) on a frozen clock and a real SMTP sink: the walkthrough passes its
own checks, shows a German lead drafted in German, and a revise that changes the draft, named in
its note, with exactly one email sent once the revised version is approved."""

from __future__ import annotations

import sqlite3
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest

from hitl.demo import run_demo

GERMAN_LEAD = "jonas.weber@weber-maschinenbau.de"


def _rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, args))


def test_demo_shows_a_german_lead_and_a_revise_that_changes_the_draft(
        tmp_path: Path, clock: Any, smtp_sink: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(tmp_path, clock=clock, sink=smtp_sink) == 0
    out = capsys.readouterr().out
    assert "✓ demo finished" in out and "✗" not in out

    # The German lead: qualified (band A, a hand-raise), its package and its draft in German.
    assert "Qualified: Geschäftsführer · band A" in out and "route hand_raise" in out
    assert "Jonas Weber (Geschäftsführer, Weber Maschinenbau) submitted the demo form" in out
    assert "Draft (offline draft in German)" in out and "Subject: Zu Ihrer Demo-Anfrage" in out
    assert "Vielen Dank für Ihre Demo-Anfrage" in out

    # The revise: the first version revised with the rep's words, a second version that differs
    # and whose note says what was followed, approved.
    db = tmp_path / "hitl.db"
    versions = _rows(db, "SELECT version, status, subject, body, draft_note FROM approvals "
                         "WHERE to_email = ? ORDER BY version", GERMAN_LEAD)
    assert [(v, s) for v, s, *_ in versions] == [(1, "revised"), (2, "approved")]
    (_, _, subject1, body1, note1), (_, _, subject2, body2, note2) = versions
    assert body2 != body1 and "Vielen Dank für Ihre Demo-Anfrage" in body1
    assert "Vielen Dank für deine Demo-Anfrage" in body2  # du, as asked
    assert "das Webinar" in body2 and "das Webinar" not in body1
    assert note1 == "offline draft in German"
    assert note2 == ("offline draft in German: followed: less formal, "
                     "mentioned 'das Webinar'")
    [(instruction,)] = _rows(db, "SELECT json_extract(payload, '$.instruction') FROM decisions "
                                 "WHERE action = 'revise'")
    assert instruction == "bitte duzen, und erwähne das Webinar"
    assert "before (v1)" in out and "after (v2)" in out
    assert "Drafter's note: offline draft in German: followed:" in out

    # Exactly one email to the German lead, and it is the approved second version.
    mails = [m for m in smtp_sink.messages if GERMAN_LEAD in m.rcpt_tos]
    assert len(mails) == 1
    assert str(make_header(decode_header(mails[0].subject))) == subject2
    assert mails[0].body.strip() == body2.strip()
    assert f"The sink received 1 email to {GERMAN_LEAD}" in out
    # Everyone approved got one email each; nobody else got any.
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == sorted(
        ["ada.park@acme.io", "ben.ortiz@northwind-logistics.com", GERMAN_LEAD])
