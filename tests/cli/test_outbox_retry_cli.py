"""`hitl outbox retry` of a send whose outcome is unknown (the mail server took the message and
its answer never came) asks the person at the terminal first: the message may have arrived.
A script is warned on stderr and goes on, as the contract's command always did; `--yes` says
the person checked. The SMTP server is a real one that delivers and hangs up (RFC 1047)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from hitl.cli import app
from tests.flow import decide, pending_card
from tests.smtp_script import ScriptedSmtp


@pytest.fixture
def smtp_sink() -> Iterator[ScriptedSmtp]:
    """The first conversation delivers the message and hangs up before its answer."""
    server = ScriptedSmtp(script=["deliver_and_drop"])
    yield server
    server.close()


@pytest.fixture
def unconfirmed(client: Any, worker: Any, settings: Any, smtp_sink: ScriptedSmtp,
                monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    card = pending_card(client, worker)
    assert decide(client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200
    worker.run_until_idle()
    assert len(smtp_sink.delivered) == 1
    monkeypatch.setenv("HITL_DATABASE_URL", settings.database_url)
    listed = CliRunner().invoke(app, ["outbox", "list", "--status", "failed", "--json"])
    [message] = json.loads(listed.stdout)
    assert message["detail"].startswith("not confirmed")
    return message


def _at_a_terminal(monkeypatch: pytest.MonkeyPatch, answer: bool) -> None:
    """Standard input a terminal (CliRunner's is not), the person answering `answer`."""
    monkeypatch.setattr("hitl.commands.ops._at_a_terminal", lambda: True)
    monkeypatch.setattr("typer.confirm", lambda *a, **k: answer)


def test_a_person_is_asked_and_no_leaves_it_parked(unconfirmed: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _at_a_terminal(monkeypatch, answer=False)
    result = CliRunner().invoke(app, ["outbox", "retry", unconfirmed["outbox_id"]])
    assert result.exit_code == 1 and "not retried" in result.stderr
    assert unconfirmed["message_id"] in result.stderr and "may have arrived" in result.stderr
    listed = CliRunner().invoke(app, ["outbox", "list", "--status", "failed", "--json"])
    assert [m["outbox_id"] for m in json.loads(listed.stdout)] == [unconfirmed["outbox_id"]]

    # Having checked, the person says so: nothing is asked, and it is sent again.
    monkeypatch.setattr("typer.confirm", lambda *a, **k: pytest.fail("asked despite --yes"))
    result = CliRunner().invoke(app, ["outbox", "retry", "--yes", unconfirmed["outbox_id"]])
    assert result.exit_code == 0 and "tried again now" in result.stdout
    assert "may have arrived" not in result.stderr


def test_a_script_is_warned_and_goes_on(unconfirmed: dict[str, Any],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("typer.confirm", lambda *a, **k: pytest.fail("a script was asked"))
    result = CliRunner().invoke(app, ["outbox", "retry", unconfirmed["outbox_id"]])
    assert result.exit_code == 0 and "tried again now" in result.stdout
    assert "may have arrived" in result.stderr
