"""Support without Slack: the warm transfer claimed, answered, resolved and handed back over
REST with personal tokens (api/routers/handoffs.py), while the fake Slack Web API watches the
transfer card follow every action, and Slack's own clicks show in the API."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import DEFAULTS_DIR, Settings
from store.tables import AuditEntry, SupportTransfer
from tests.conftest import SUPPORT_CHANNEL, TOKEN, make_settings
from tests.fake_slack import FakeSlack, SlackSide, all_text, buttons, wait_until
from tests.support.chat import conversation, handoff, transfer_to_a_person

# A support agent who is not on Slack at all (no Slack id): the person this surface is for.
JO = '''
[[members]]
email = "jo@example.com"
name = "Jo Helpdesk"
role = "support"
'''


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, database_url: str,
             fake_slack: FakeSlack) -> Settings:
    """The support folder's settings (Slack on, fake Web API) with Jo on the roster."""
    team = tmp_path / "team.toml"
    team.write_text((DEFAULTS_DIR / "team.toml").read_text() + JO)
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         slack_bot_token="xoxb-test", slack_signing_secret="secret",
                         slack_api_url=fake_slack.url + "/",
                         slack_support_channel=SUPPORT_CHANNEL, team_file=team)


@pytest.fixture
def tokens(support_rt: Any) -> dict[str, dict[str, str]]:
    """Authorization headers of personal tokens: Jo and Sasha (support), Morgan (manager),
    Riley (a sales rep, not on the support team)."""
    from service import personal_tokens

    return {name: {"Authorization": f"Bearer {personal_tokens.create(support_rt, ref)[1]}"}
            for name, ref in (("jo", "jo@example.com"), ("sasha", "U0SUP0001"),
                              ("morgan", "U0MGR0001"), ("riley", "riley@example.com"))}


def _card(rt: Any, fake: FakeSlack, handoff_id: str) -> dict[str, Any]:
    with rt.db.read() as session:
        transfer = session.get(SupportTransfer, handoff_id)
        assert transfer is not None and transfer.slack_ts, "card not posted"
        return fake.message(transfer.slack_channel, transfer.slack_ts)


def _updates(fake: FakeSlack, rt: Any, handoff_id: str) -> list[str]:
    """The text of every chat.update of this transfer's card, in order."""
    card = _card(rt, fake, handoff_id)
    return [all_text(c.params["blocks"]) for c in fake.calls("chat.update")
            if c.params.get("ts") == card["ts"]]


def _post(client: Any, path: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(path, headers=headers, json=body or None)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_support_without_slack_end_to_end_with_the_card_following(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        tokens: dict[str, dict[str, str]]) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    assert buttons(_card(support_rt, fake_slack, handoff_id)["blocks"]) == ["Claim"]

    # The queue, as Jo sees it.
    queue = support_client.get("/v1/handoffs", params={"status": "waiting"},
                               headers=tokens["jo"])
    assert queue.status_code == 200, queue.text
    [item] = queue.json()
    assert item["handoff_id"] == handoff_id and item["conversation_id"] == "conv-1"
    assert item["customer"]["email"] == "ada@acme.io" and item["owner"] is None
    assert support_client.get("/v1/handoffs", params={"status": "claimed"},
                              headers=tokens["jo"]).json() == []

    # Two personal tokens race to claim: one 200, one 409 naming the winner.
    barrier = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def claim(name: str) -> None:
        barrier.wait()
        answers[name] = _post(support_client, f"/v1/handoffs/{handoff_id}/claim",
                              tokens[name])

    racers = [threading.Thread(target=claim, args=(n,)) for n in ("jo", "sasha")]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert sorted(a.status_code for a in answers.values()) == [200, 409]
    winner = next(n for n, a in answers.items() if a.status_code == 200)
    loser = "sasha" if winner == "jo" else "jo"
    owner = {"jo": "jo@example.com", "sasha": "U0SUP0001"}[winner]
    shown = {"jo": "jo@example.com", "sasha": "<@U0SUP0001>"}[winner]
    assert answers[winner].json()["owner"] == owner
    assert answers[loser].json()["detail"] == f"already claimed by {owner}"
    convo = conversation(support_client)
    assert convo["status"] == "human" and convo["owner"] == owner

    worker.run_until_idle()  # the card follows the API's claim
    assert f"*Claimed* by {shown}" in _updates(fake_slack, support_rt, handoff_id)[-1]
    card = _card(support_rt, fake_slack, handoff_id)
    assert buttons(card["blocks"]) == ["Resolve", "Hand back to the bot"]

    # Only the owner replies; the customer sees it with role `agent`, the thread shows it too.
    text = "Hi Ada, Export is under Settings > Data. I'll stay here while you try."
    assert _post(support_client, f"/v1/handoffs/{handoff_id}/reply", tokens[loser],
                 text="me too").status_code == 403
    replied = _post(support_client, f"/v1/handoffs/{handoff_id}/reply", tokens[winner],
                    text=text)
    assert replied.status_code == 200, replied.text
    last = conversation(support_client)["messages"][-1]
    assert last["role"] == "agent" and last["text"] == text
    assert last["author"] == {"jo": "Jo Helpdesk", "sasha": "Sasha Support"}[winner]
    assert "me too" not in str(conversation(support_client))
    worker.run_until_idle()
    thread = fake_slack.thread(SUPPORT_CHANNEL, card["ts"])
    assert thread[-1]["text"].startswith(f"*Agent {shown}*")
    assert "Settings &gt; Data" in thread[-1]["text"]  # inert in Slack

    # Resolve: the conversation closes, the card says who resolved it and loses its buttons.
    resolved = _post(support_client, f"/v1/handoffs/{handoff_id}/resolve", tokens[winner])
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert conversation(support_client)["status"] == "resolved"
    worker.run_until_idle()
    assert f"*Resolved* by {shown}" in _updates(fake_slack, support_rt, handoff_id)[-1]
    assert buttons(_card(support_rt, fake_slack, handoff_id)["blocks"]) == []
    assert _post(support_client, f"/v1/handoffs/{handoff_id}/resolve",
                 tokens[winner]).status_code == 409
    [done] = support_client.get("/v1/handoffs", params={"status": "resolved"},
                                headers=tokens["jo"]).json()
    assert done["closed_by"] == owner and done["status"] == "resolved"

    # The audit log has the real person, and how they acted.
    with support_rt.db.read() as session:
        rows = {r.action: r for r in session.scalars(select(AuditEntry).where(
            AuditEntry.subject_id == handoff_id))}
    assert rows["support_transfer_claimed"].actor == owner
    assert rows["support_transfer_resolved"].detail["via"] == "personal_token"


def test_slack_clicks_show_in_the_api_and_the_api_hand_back_on_the_card(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        slack: SlackSide, running_worker: Any, tokens: dict[str, dict[str, str]]) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    slack.click(_card(support_rt, fake_slack, handoff_id), "Claim", "U0SUP0001")
    wait_until(lambda: conversation(support_client)["status"] == "human")
    [mine] = support_client.get("/v1/handoffs", params={"status": "claimed"},
                                headers=tokens["sasha"]).json()
    assert mine["owner"] == "U0SUP0001" and mine["owner_name"] == "Sasha Support"
    # The same rule and the same 409 as the Slack button for whoever comes second.
    late = _post(support_client, f"/v1/handoffs/{handoff_id}/claim", tokens["jo"])
    assert late.status_code == 409 and late.json()["detail"] == "already claimed by U0SUP0001"

    # The owner hands back over the API; the card shows it, with the note.
    back = _post(support_client, f"/v1/handoffs/{handoff_id}/hand-back", tokens["sasha"],
                 note="Explained the export on a call.")
    assert back.status_code == 200 and back.json()["status"] == "handed_back"
    assert conversation(support_client)["status"] == "bot"
    assert "Explained the export" not in str(conversation(support_client))
    wait_until(lambda: "Handed back to the bot" in all_text(
        _card(support_rt, fake_slack, handoff_id)["blocks"]))
    text = all_text(_card(support_rt, fake_slack, handoff_id)["blocks"])
    assert "by <@U0SUP0001>" in text and "Explained the export on a call." in text


def test_who_may_act_is_the_slack_buttons_rule(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        slack: SlackSide, tokens: dict[str, dict[str, str]]) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    path = f"/v1/handoffs/{handoff_id}"
    # A sales rep's token is refused where the Slack button refuses them.
    refused = _post(support_client, f"{path}/claim", tokens["riley"])
    assert refused.status_code == 403
    assert "only the support team" in refused.json()["detail"]
    slack.click(_card(support_rt, fake_slack, handoff_id), "Claim", "U0REP0001")
    [ephemeral] = fake_slack.wait_for("chat.postEphemeral")
    assert "support team" in ephemeral.params["text"].lower()
    assert conversation(support_client)["status"] == "waiting_for_human"
    # Nobody acts in someone else's name; the service token must say who acts.
    spoof = _post(support_client, f"{path}/claim", tokens["jo"], actor="U0SUP0001")
    assert spoof.status_code == 403 and "Jo Helpdesk" in spoof.json()["detail"]
    unnamed = _post(support_client, f"{path}/claim", {"Authorization": f"Bearer {TOKEN}"})
    assert unnamed.status_code == 422
    assert unnamed.json()["errors"][0]["field"] == "actor"
    assert handoff(support_client, handoff_id)["status"] == "waiting"  # nothing changed

    # Reply before a claim: 409; the manager's claim through the service token names actor.
    early = _post(support_client, f"{path}/reply", tokens["jo"], text="hello?")
    assert early.status_code == 409
    claimed = _post(support_client, f"{path}/claim", {"Authorization": f"Bearer {TOKEN}"},
                    actor="morgan@example.com")
    assert claimed.status_code == 200 and claimed.json()["owner"] == "U0MGR0001"
    with support_rt.db.read() as session:
        [row] = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "support_transfer_claimed"))
    assert row.actor == "U0MGR0001" and row.detail["via"] == "service_token"
    # Closing someone else's conversation: only the owner or a manager.
    assert _post(support_client, f"{path}/resolve", tokens["jo"]).status_code == 403
    assert _post(support_client, f"{path}/reply", tokens["jo"],
                 text="x" * 4001).status_code == 422
    assert _post(support_client, "/v1/handoffs/nope/claim", tokens["jo"]).status_code == 404
