"""Support without Slack from the command line: `hitl handoffs list|show|claim|reply|resolve|
hand-back` acting as the member whose personal token is in HITL_TOKEN (the service layer
directly, the Slack buttons' rules), while the fake Slack Web API watches the card follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from config.settings import DEFAULTS_DIR, Settings
from store.tables import AuditEntry, SupportTransfer
from tests.conftest import SUPPORT_CHANNEL, TOKEN, make_settings
from tests.fake_slack import FakeSlack, all_text
from tests.support.chat import conversation, transfer_to_a_person

JO = '''
[[members]]
email = "jo@example.com"
name = "Jo Helpdesk"
role = "support"
'''


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, fake_slack: FakeSlack) -> Settings:
    """Slack on (the fake Web API), and Jo, a support agent with no Slack id, on the roster."""
    team = tmp_path / "team.toml"
    team.write_text((DEFAULTS_DIR / "team.toml").read_text() + JO)
    return make_settings(tmp_path, smtp_url=smtp_sink.url, team_file=team,
                         slack_bot_token="xoxb-test", slack_signing_secret="secret",
                         slack_api_url=fake_slack.url + "/",
                         slack_support_channel=SUPPORT_CHANNEL)


@pytest.fixture
def cli(settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`hitl ...` in this process, configured as the server is, as `token` (or no token). Its
    runtime reads the test's clock, so the jobs it queues are due for the test's worker."""
    import hitl.wiring

    build = hitl.wiring.build_runtime
    monkeypatch.setattr(hitl.wiring, "build_runtime",
                        lambda s, **kw: build(s, **{"clock": clock, **kw}))
    monkeypatch.delenv("HITL_TOKEN", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for name, value in (("HITL_DATABASE_URL", settings.database_url),
                        ("HITL_CHROMA_PATH", str(settings.chroma_path)),
                        ("HITL_EMBEDDINGS", "local"), ("HITL_API_TOKEN", TOKEN),
                        ("HITL_TEAM_FILE", str(settings.team_file)),
                        ("SLACK_BOT_TOKEN", "xoxb-test"), ("SLACK_SIGNING_SECRET", "secret"),
                        ("SLACK_API_URL", settings.slack_api_url),
                        ("HITL_SLACK_SUPPORT_CHANNEL", SUPPORT_CHANNEL)):
        monkeypatch.setenv(name, value)

    def run(*args: str, token: str | None = None, stdin: str | None = None) -> Any:
        from hitl.cli import app

        env = {"HITL_TOKEN": token} if token is not None else {}
        return CliRunner().invoke(app, ["handoffs", *args], env=env, input=stdin)

    return run


@pytest.fixture
def tokens(support_rt: Any) -> dict[str, str]:
    """Personal tokens: Jo and Sasha (support), Morgan (manager), Riley (sales, not support)."""
    from service import personal_tokens

    return {name: personal_tokens.create(support_rt, ref)[1]
            for name, ref in (("jo", "jo@example.com"), ("sasha", "U0SUP0001"),
                              ("morgan", "U0MGR0001"), ("riley", "riley@example.com"))}


def _card_text(rt: Any, fake: FakeSlack, handoff_id: str) -> str:
    with rt.db.read() as session:
        transfer = session.get(SupportTransfer, handoff_id)
        assert transfer is not None and transfer.slack_ts
        return all_text(fake.message(transfer.slack_channel, transfer.slack_ts)["blocks"])


def _audits(rt: Any, action: str) -> list[AuditEntry]:
    with rt.db.read() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_support_agent_without_slack_works_a_transfer_from_the_cli(
        cli: Any, support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        tokens: dict[str, str]) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    queue = cli("list", "--status", "waiting")
    assert queue.exit_code == 0, queue.output
    assert handoff_id in queue.stdout and "Ada Park <ada@acme.io>" in queue.stdout
    assert cli("list", "--status", "claimed").stdout.strip() == "no handoffs (claimed)"

    # Not on the support team: refused like the API's 403, nothing changes.
    riley = cli("claim", handoff_id, token=tokens["riley"])
    assert riley.exit_code == 1 and "only the support team" in riley.stderr

    claimed = cli("claim", handoff_id, token=tokens["jo"])
    assert claimed.exit_code == 0, claimed.output
    assert f"{handoff_id} claimed by Jo Helpdesk" in claimed.stdout
    worker.run_until_idle()  # the card follows the CLI's claim
    assert "*Claimed* by jo@example.com" in _card_text(support_rt, fake_slack, handoff_id)
    [audit] = _audits(support_rt, "support_transfer_claimed")
    assert audit.actor == "jo@example.com" and audit.detail["via"] == "personal_token"

    # The first claim won: a later one is the API's 409, exit 3 naming the owner.
    late = cli("claim", handoff_id, token=tokens["sasha"])
    assert late.exit_code == 3 and "already claimed by jo@example.com" in late.stderr
    not_owner = cli("reply", handoff_id, "Hi, Sasha here", token=tokens["sasha"])
    assert not_owner.exit_code == 1 and "only the owner" in not_owner.stderr

    replied = cli("reply", handoff_id, "-", token=tokens["jo"],
                  stdin="Hi Ada, Jo here.\nExports are under Settings > Data.")
    assert replied.exit_code == 0, replied.output
    last = conversation(support_client)["messages"][-1]
    assert last["role"] == "agent" and last["author"] == "Jo Helpdesk"
    assert last["text"] == "Hi Ada, Jo here.\nExports are under Settings > Data."
    worker.run_until_idle()  # relayed into the card's thread, as an API reply is
    assert any("Exports are under Settings" in c.params.get("text", "")
               for c in fake_slack.calls("chat.postMessage"))

    shown = cli("show", handoff_id)
    assert shown.exit_code == 0 and "claimed  owner jo@example.com" in shown.stdout
    assert "agent (jo@example.com): Hi Ada, Jo here.\n      Exports are under" in shown.stdout

    resolved = cli("resolve", handoff_id, token=tokens["jo"])
    assert resolved.exit_code == 0 and "resolved by Jo Helpdesk" in resolved.stdout
    again = cli("hand-back", handoff_id, "--note", "x", token=tokens["morgan"])
    assert again.exit_code == 3 and "already resolved" in again.stderr
    assert conversation(support_client)["status"] == "resolved"
    worker.run_until_idle()
    assert "Resolved" in _card_text(support_rt, fake_slack, handoff_id)
    assert cli("list").stdout.strip() == "no handoffs (open)"
    assert handoff_id in cli("list", "--status", "all").stdout


def test_who_acts_is_the_token_and_the_service_token_must_name_the_actor(
        cli: Any, support_client: Any, worker: Any, support_rt: Any,
        tokens: dict[str, str]) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    nobody = cli("claim", handoff_id)
    assert nobody.exit_code == 2 and "HITL_TOKEN" in nobody.stderr
    bogus = cli("claim", handoff_id, token="hitl_pt_not-a-token")
    assert bogus.exit_code == 1 and "not an active personal token" in bogus.stderr
    spoof = cli("claim", handoff_id, "--actor", "U0SUP0001", token=tokens["jo"])
    assert spoof.exit_code == 1 and "cannot act as 'U0SUP0001'" in spoof.stderr
    anonymous = cli("claim", handoff_id, token=TOKEN)
    assert anonymous.exit_code == 2 and "actor is required" in anonymous.stderr
    assert conversation(support_client)["status"] == "waiting_for_human"  # nothing changed

    back = cli("hand-back", handoff_id, "--actor", "U0MGR0001", "--note", "bot can do this",
               token=TOKEN)
    assert back.exit_code == 0, back.output
    assert "handed back to the bot by Morgan" in back.stdout
    [audit] = _audits(support_rt, "support_transfer_handed_back")
    assert audit.actor == "U0MGR0001" and audit.detail["via"] == "service_token"
    assert audit.detail["note"] == "bot can do this"
    assert conversation(support_client)["status"] == "bot"

    missing = cli("resolve", "wt_nope", token=tokens["jo"])
    assert missing.exit_code == 1 and "not found" in missing.stderr
    empty = cli("reply", handoff_id, "   ", token=tokens["jo"])
    assert empty.exit_code == 2 and "empty" in empty.stderr
    assert cli("list", "--status", "lost").exit_code == 2


def test_customer_text_is_shown_escaped(cli: Any, support_client: Any, worker: Any) -> None:
    handoff_id = transfer_to_a_person(support_client, worker, name="Ada \u202eevil\u200f Park")
    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    assert "Ada \\u202eevil\\u200f Park" in listed.stdout
    assert "\u202e" not in listed.stdout and "\u200f" not in listed.stdout
    shown = cli("show", handoff_id)
    assert "\u202e" not in shown.stdout and "Ada \\u202eevil" in shown.stdout
