"""Drill: a mail server that is down (connections refused) for ten minutes, then back.

The approval says `retrying` (with the next attempt's time) throughout, and once the server
is back on the same port the approved email arrives exactly once. The clock is injected: no
test waits real minutes."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from store.tables import OutboxMessage
from tests.conftest import make_settings
from tests.flow import decide, pending_card
from tests.smtp_script import ScriptedSmtp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def down_port() -> int:
    return _free_port()


@pytest.fixture
def settings(tmp_path, down_port, database_url):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, smtp_url=f"smtp://127.0.0.1:{down_port}",
                         database_url=database_url)


def _outbox(rt: Any) -> OutboxMessage:
    with rt.db.session() as s:
        return s.scalars(select(OutboxMessage)).one()


def _send_status(client: Any, approval_id: str) -> str:
    return str(client.get(f"/v1/approvals/{approval_id}").json()["send_status"])


def test_a_mail_server_down_for_ten_minutes_gets_the_email_once_when_back(
        client, worker, rt, clock, down_port) -> None:
    card = pending_card(client, worker)
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    outage_end = clock.now() + timedelta(minutes=10)
    while clock.now() < outage_end:
        worker.run_until_idle()
        assert _send_status(client, card["approval_id"]) == "retrying"
        clock.advance(seconds=30)
    assert _outbox(rt).attempts >= 4
    assert "SMTP connection failed" in (_outbox(rt).last_error or "")
    retrying = client.get("/v1/outbox", params={"status": "retrying"}).json()
    assert len(retrying) == 1 and retrying[0]["next_attempt_at"] is not None

    server = ScriptedSmtp(port=down_port)
    try:
        for _ in range(30):
            worker.run_until_idle()
            if _outbox(rt).status == "sent":
                break
            clock.advance(minutes=1)
        clock.advance(hours=3)
        worker.run_until_idle()
        assert _outbox(rt).status == "sent"
        assert len(server.delivered) == 1 and server.conversations == 1
    finally:
        server.close()
    assert _send_status(client, card["approval_id"]) == "sent"
    assert client.get("/v1/outbox", params={"status": "retrying"}).json() == []
