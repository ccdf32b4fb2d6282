"""The CLI as a person: `hitl tokens`, `hitl leads show`, `hitl approvals list|decide` acting
as the member whose personal token is in HITL_TOKEN (the service layer directly, no HTTP),
and `hitl --version`."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import LEAD_ADA, T0, TOKEN, event, hand_raise
from tests.flow import pending_card


@pytest.fixture
def cli(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `hitl ...` in this process against the test's database, as `HITL_TOKEN` (or not)."""
    for name in ("HITL_TOKEN", "OPENAI_API_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HITL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HITL_CHROMA_PATH", str(settings.chroma_path))
    monkeypatch.setenv("HITL_EMBEDDINGS", "local")
    monkeypatch.setenv("HITL_API_TOKEN", TOKEN)

    def run(*args: str, token: str | None = None) -> Any:
        from hitl.cli import app

        env = {"HITL_TOKEN": token} if token is not None else {}
        return CliRunner().invoke(app, list(args), env=env)

    return run


def _token(cli: Any, member: str) -> str:
    result = cli("tokens", "create", "--member", member, "--name", "laptop")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("hitl_pt_") and "\n" not in token
    assert "shown once" in result.stderr
    return token


def test_tokens_create_list_revoke(cli: Any, rt: Any) -> None:
    from service import personal_tokens

    token = _token(cli, "riley@example.com")
    listed = cli("tokens", "list")
    assert listed.exit_code == 0 and "U0REP0001" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout
    [row] = personal_tokens.list_tokens(rt)
    assert personal_tokens.resolve(rt, token) is not None

    assert cli("tokens", "revoke", row["token_id"]).exit_code == 0
    assert "revoked" in cli("tokens", "list").stdout
    assert personal_tokens.resolve(rt, token) is None
    again = cli("tokens", "revoke", row["token_id"])
    assert again.exit_code == 1 and "already revoked" in again.stderr

    stranger = cli("tokens", "create", "--member", "mallory@example.com")
    assert stranger.exit_code == 2 and "not on the team roster" in stranger.stderr


def test_leads_show_finds_by_email_in_any_case(cli: Any, client: Any) -> None:
    assert client.post("/v1/events", json={"events": hand_raise()}).status_code == 202
    shown = cli("leads", "show", "ADA@Acme.IO")
    assert shown.exit_code == 0, shown.output
    assert "ada@acme.io" in shown.stdout and "Ada Park, VP Operations at Acme" in shown.stdout
    missing = cli("leads", "show", "nobody@acme.io")
    assert missing.exit_code == 1 and "no lead with email" in missing.stdout


def test_lead_text_cannot_drive_the_terminal(cli: Any, client: Any, rt: Any) -> None:
    from sqlalchemy import update

    from store.tables import Lead

    answer = client.post("/v1/events", json=event("h-1", "page_view", at=T0, lead=LEAD_ADA,
                                                  url="https://vendor.example/"))
    assert answer.status_code == 202
    # Ingest keeps a lead's fields on one line without control characters; a record stored
    # before that rule, or written by another tool, may still hold them.
    with rt.db.session() as session:
        session.execute(update(Lead).values(company="Acme\x1b]0;owned\x07\x1b[2J",
                                            title="VP\u202eevil"))
    shown = cli("leads", "show", "ada@acme.io")
    assert shown.exit_code == 0
    assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout
    assert "\\u001b" in shown.stdout


def test_approvals_list_mine_and_decide_as_yourself(cli: Any, client: Any, worker: Any,
                                                    rt: Any) -> None:
    from store.tables import AuditEntry

    card = pending_card(client, worker)
    riley, sam = _token(cli, "U0REP0001"), _token(cli, "sam@example.com")

    mine = cli("approvals", "list", "--mine", token=riley)
    assert mine.exit_code == 0 and card["approval_id"] in mine.stdout
    theirs = cli("approvals", "list", "--mine", token=sam)
    assert theirs.exit_code == 0 and card["approval_id"] not in theirs.stdout
    assert "no approvals for you" in theirs.stdout
    everyone = cli("approvals", "list")
    assert card["approval_id"] in everyone.stdout
    assert cli("approvals", "list", "--mine").exit_code == 2  # no HITL_TOKEN

    spoof = cli("approvals", "decide", card["approval_id"], "--action", "approve",
                "--actor", "U0REP0001", token=sam)
    assert spoof.exit_code == 1 and "belongs to Sam Seller" in spoof.stderr
    not_theirs = cli("approvals", "decide", card["approval_id"], "--action", "approve",
                     token=sam)
    assert not_theirs.exit_code == 1 and "not the assignee" in not_theirs.stderr
    no_reason = cli("approvals", "decide", card["approval_id"], "--action", "reject",
                    token=riley)
    assert no_reason.exit_code == 2 and "--reason" in no_reason.stderr
    service = cli("approvals", "decide", card["approval_id"], "--action", "approve",
                  token=TOKEN)
    assert service.exit_code == 2 and "actor is required" in service.stderr
    assert client.get(f"/v1/approvals/{card['approval_id']}").json()["status"] == "pending"

    done = cli("approvals", "decide", card["approval_id"], "--action", "reject",
               "--reason", "not_now", "--note", "next quarter", token=riley)
    assert done.exit_code == 0, done.output
    assert "rejected by U0REP0001" in done.stdout
    with rt.db.read() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "decision_reject"))
        assert entry is not None and entry.actor == "U0REP0001"
        assert entry.detail["via"] == "personal_token"
    [version] = client.get(f"/v1/approvals/{card['approval_id']}").json()["history"]
    assert version["decision"]["note"] == "next quarter"


def test_a_revoked_token_cannot_decide(cli: Any, client: Any, worker: Any, rt: Any) -> None:
    from service import personal_tokens

    card = pending_card(client, worker)
    riley = _token(cli, "riley@example.com")
    [row] = personal_tokens.list_tokens(rt)
    personal_tokens.revoke(rt, row["token_id"])
    refused = cli("approvals", "decide", card["approval_id"], "--action", "approve",
                  token=riley)
    assert refused.exit_code == 1 and "not an active personal token" in refused.stderr


def test_version(cli: Any) -> None:
    from importlib.metadata import version

    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"hitl {version('hitl-handoff')}"
