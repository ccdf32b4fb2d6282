"""Slack text is inert end to end: a lead and a customer whose every field is hostile are driven
through the product (the API, signed Slack requests through Bolt, the real worker and the fake
Slack Web API on loopback), and nothing the app sent to Slack (`chat.postMessage`,
`chat.update`, `chat.postEphemeral`, `views.open`, `views.publish`) carries a live mention,
link, date, formatting trick or invisible character. The app's own mentions stay live."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from service.support import support
from tests.conftest import SUPPORT_CHANNEL, T0, event
from tests.fake_slack import FakeSlack, SlackSide, all_text, card_message, wait_until
from tests.slack_oracle import HOSTILE_ALL, violations

RENDERING = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open",
             "views.publish", "views.update")

HOSTILE_LEAD = {
    "email": "ada@acme.io", "first_name": "Ada <!channel> \u202eevil",
    "last_name": "<@U0ADMIN> a\u200bb", "company": HOSTILE_ALL,
    "title": "VP Operations <!subteam^S123|@team> *bold* _x_ ~y~ `z`", "domain": "acme.io",
    "country": "US", "employees": 850, "industry": "<https://evil.example|click here>",
    "timezone": "America/Chicago"}


@pytest.fixture(name="slack")
def slack_fixture(support_client: Any) -> SlackSide:
    return SlackSide(support_client)


def _hostile_hand_raise() -> list[dict[str, Any]]:
    return [
        event("h-1", "page_view", at=T0 - timedelta(days=2), lead=HOSTILE_LEAD,
              url="https://vendor.example/pricing"),
        event("h-2", "email_click", at=T0 - timedelta(days=1), lead=HOSTILE_LEAD,
              url="https://vendor.example/webinar", campaign=HOSTILE_ALL,
              source="<!here> *linkedin*"),
        event("h-3", "form_submit", at=T0 - timedelta(minutes=5), lead=HOSTILE_LEAD,
              form="demo", campaign=HOSTILE_ALL, source="<!here> *linkedin*"),
    ]


def _say(client: Any, text: str, conversation: str = "conv-hostile") -> dict[str, Any]:
    response = client.post(f"/v1/conversations/{conversation}/messages", json={
        "text": text, "customer": {"email": "ada@acme.io", "name": HOSTILE_LEAD["first_name"]}})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _assert_inert(fake: FakeSlack) -> list[Any]:
    """Every rendering call is inert; returns them (the tests check they carried the text)."""
    calls = [c for c in fake.calls() if c.method in RENDERING]
    # No previews of a link someone typed: every post asks Slack not to unfurl.
    posts = [c for c in calls if c.method == "chat.postMessage"]
    assert all(str(c.params.get("unfurl_links")).lower() in ("false", "0") and
               str(c.params.get("unfurl_media")).lower() in ("false", "0") for c in posts), \
        [c.params.get("text", "")[:60] for c in posts if c.params.get("unfurl_links") is None]
    problems = [f"{c.method} #{i}: {v}" for i, c in enumerate(calls)
                for v in violations(c.params, channels=[SUPPORT_CHANNEL])]
    assert not problems, "\n".join(problems[:20])
    return calls


def _rendered(call: Any) -> str:
    params = call.params
    return "\n".join([str(params.get("text") or ""), all_text(params.get("blocks") or []),
                      all_text((params.get("view") or {}).get("blocks") or [])])


def test_a_hostile_lead_through_card_modal_answers_home_and_sla(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        slack: SlackSide, clock: Any) -> None:
    client, worker, rt = support_client, worker, support_rt
    response = client.post("/v1/events", json={"events": _hostile_hand_raise()})
    assert response.status_code == 202, response.text
    worker.run_until_idle()
    [approval] = client.get("/v1/approvals", params={"status": "pending"}).json()
    card = card_message(rt, fake_slack, approval["approval_id"])

    # The assignee opens Edit; a stranger clicks Approve; the assignee asks in the thread.
    assert slack.click(card, "Edit", "U0REP0001").status_code == 200
    [opened] = fake_slack.wait_for("views.open")
    assert slack.click(card, "Approve", "U0OUTSIDER").status_code == 200
    assert slack.reply(card["channel"], card["ts"], "U0REP0001", "why now?").status_code == 200
    assert slack.event({"type": "app_home_opened", "user": "U0REP0001", "channel": "D0REP0001",
                        "tab": "home"}).status_code == 200
    fake_slack.wait_for("views.publish")

    def answered() -> bool:
        worker.run_until_idle()
        return bool(fake_slack.calls("chat.postEphemeral")) and any(
            c.params.get("thread_ts") == card["ts"] and "*Why now:*" in c.params["text"]
            for c in fake_slack.calls("chat.postMessage"))

    wait_until(answered)
    # Both SLA breaches: a reminder in the thread, then the manager's DM and a new card.
    clock.advance(minutes=16)
    worker.run_until_idle()
    clock.advance(minutes=16)
    worker.run_until_idle()

    calls = _assert_inert(fake_slack)
    texts = {c.method: [] for c in calls}  # type: dict[str, list[str]]
    for c in calls:
        texts[c.method].append(_rendered(c))
    posted = "\n".join(texts["chat.postMessage"])
    # The hostile text did reach Slack, shown as written (not dropped, not live).
    assert "Ada &lt;!channel&gt; evil &lt;@U0ADMIN&gt; ab" in posted
    assert "&lt;https://evil.example|click here&gt;" in posted
    assert "passed its SLA" in posted and "SLA missed twice on Ada &lt;!channel&gt; evil" in posted
    assert "<@U0REP0001>" in posted  # the app's own mention stays live
    subject = next(b["element"]["initial_value"] for b in opened.params["view"]["blocks"]
                   if b.get("block_id") == "subject")
    assert "\u202e" not in subject and "\u200b" not in subject
    assert "Only the assignee (<@U0REP0001>)" in texts["chat.postEphemeral"][0]
    assert "approvals" in texts["views.publish"][0]
    assert texts["chat.update"], "the reassigned card was updated"


def test_a_hostile_customer_through_transfer_transcript_relay_and_escalation(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        slack: SlackSide, clock: Any) -> None:
    client, worker, rt = support_client, worker, support_rt
    # The customer is also a lead: the transfer card shows the lead's (hostile) facts too.
    assert client.post("/v1/events", json={"events": _hostile_hand_raise()}).status_code == 202
    worker.run_until_idle()
    _say(client, "How do I export my data to CSV? " + HOSTILE_ALL)
    moved = _say(client, "This is useless <!channel>. I want to talk to a human")
    assert moved["status"] == "waiting_for_human"
    worker.run_until_idle()
    _say(client, "<!here> still there? *bold* \u202eevil a\u200bb")  # relayed into the thread
    worker.run_until_idle()

    with rt.db.session() as session:
        from store.tables import SupportTransfer

        transfer = session.get(SupportTransfer, moved["handoff_id"])
        assert transfer is not None and transfer.slack_ts
        card = fake_slack.message(transfer.slack_channel, transfer.slack_ts)
    assert slack.click(card, "Claim", "U0REP0002").status_code == 200  # not support: refused
    fake_slack.wait_for("chat.postEphemeral")
    timeout = support(rt).policy.claim_timeout_minutes
    clock.advance(minutes=timeout + 1)
    worker.run_until_idle()

    calls = _assert_inert(fake_slack)
    thread = "\n".join(str(m.get("text")) for m in fake_slack.thread(SUPPORT_CHANNEL, card["ts"]))
    assert "Full transcript" in thread
    assert "This is useless &lt;!channel&gt;. I want to talk to a human" in thread
    assert "&lt;!here&gt; still there? \u2217bold\u2217 evil ab" in thread
    assert "<@U0SUP0001> nobody has claimed this conversation" in thread
    dms = [c for c in calls if c.method == "chat.postMessage" and c.params["channel"] == "D0SUP0001"]
    assert dms and "&lt;https://evil.example|click here&gt;" in _rendered(dms[0])
