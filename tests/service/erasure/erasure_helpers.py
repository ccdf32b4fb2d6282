"""The erasure drill's person, their story through the product and what an auditor searches
(shared by tests/service/erasure/test_erasure_everywhere.py, test_erasure_postgres.py and
tests/service/test_assistant_erasure.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from service.approvals import get_approval
from store.tables import SupportTransfer
from tests.conftest import T0, event
from tests.fake_slack import FakeSlack, SlackSide, card_message, wait_until
from tests.flow import ingest

SUPPORT_CHANNEL = "C0SUPPORT1"

PERSON = {"email": "zephyrine.quillfeather@erasure-drill-corp.io", "first_name": "Zephyrine",
          "last_name": "Quillfeather", "company": "Erasuredrillcorp", "title": "VP Operations",
          "domain": "erasure-drill-corp.io", "country": "US", "employees": 850,
          "industry": "Software", "timezone": "America/Chicago"}
PHONE = "415-555-0199"
REPLY = f"Zephyrine here: Quillfeather family office, call me on {PHONE}"
SUPPORT_TEXT = "Zephyrine again: my zorblattix export from Erasuredrillcorp is broken"
NEEDLES = ("zephyrine.quillfeather@erasure-drill-corp.io", "Zephyrine", "Quillfeather",
           "Erasuredrillcorp", PHONE, "zorblattix")

CUSTOMER = {"email": "quorra.vantablack@support-only-drill.io", "name": "Quorra Vantablack"}
CUSTOMER_TEXT = "Hi, Quorra Vantablack of Glimmerquartz here, ring 212-555-0147 about invoices"
CUSTOMER_NEEDLES = ("quorra.vantablack@support-only-drill.io", "Quorra", "Vantablack",
                    "Glimmerquartz", "212-555-0147")


# -- what an auditor searches -----------------------------------------------------------------

def _files_with(folder: Path, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Which files under `folder` contain which needle (bytes, UTF-8 and UTF-16 forms)."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        for needle in needles:
            forms = (needle.lower().encode(), needle.lower().encode("utf-16-le"))
            if any(form in data for form in forms):
                found.setdefault(needle, []).append(str(path.relative_to(folder)))
    return found


def _rows_with(rt: Any, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Which tables hold a row mentioning a needle (every table, every column, as text)."""
    found: dict[str, list[str]] = {}
    with rt.db.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                blob = " ".join(bytes(v).decode("utf-8", "replace") if isinstance(v, bytes | memoryview)
                                else str(v) for v in row).lower()
                for needle in needles:
                    if needle.lower() in blob and table not in found.setdefault(needle, []):
                        found[needle].append(table)
    return {k: v for k, v in found.items() if v}


def _slack_texts_with(fake: FakeSlack, needles: tuple[str, ...]) -> dict[str, int]:
    """How many of the fake Slack's messages, as they read now, mention each needle."""
    found: dict[str, int] = {}
    for message in fake.messages.values():
        blob = json.dumps(message).lower()
        for needle in needles:
            if needle.lower() in blob:
                found[needle] = found.get(needle, 0) + 1
    return found


# -- driving the product ----------------------------------------------------------------------

def say(client: Any, text_: str, conversation: str, customer: dict[str, str]) -> dict[str, Any]:
    response = client.post(f"/v1/conversations/{conversation}/messages",
                           json={"text": text_, "customer": customer})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _transfer_card(rt: Any, fake: FakeSlack, transfer_id: str) -> dict[str, Any]:
    with rt.db.session() as session:
        t = session.get(SupportTransfer, transfer_id)
        assert t is not None and t.slack_ts, "transfer card not posted"
        return fake.message(t.slack_channel, t.slack_ts)


def _support_story(client: Any, worker: Any, rt: Any, fake: FakeSlack, slack: SlackSide,
                   clock: Any, *, conversation: str, customer: dict[str, str],
                   first: str) -> str:
    """A warm transfer that goes unclaimed past its timeout (escalation), then is claimed,
    and a customer message relayed into the card's thread. Returns the transfer id."""
    say(client, first, conversation, customer)
    moved = say(client, "This is useless. I want to talk to a human", conversation, customer)
    assert moved["status"] == "waiting_for_human"
    worker.run_until_idle()
    transfer_id = str(moved["handoff_id"])
    clock.advance(minutes=11)  # past the claim timeout: the support lead is alerted by DM
    worker.run_until_idle()
    card = _transfer_card(rt, fake, transfer_id)
    assert slack.click(card, "Claim", "U0SUP0001").status_code == 200
    wait_until(lambda: client.get(f"/v1/conversations/{conversation}").json()["status"]
               == "human")
    say(client, f"{first} (still waiting)", conversation, customer)
    worker.run_until_idle()
    assert len(fake.thread(SUPPORT_CHANNEL, card["ts"])) >= 2  # transcript, escalation, relay
    return transfer_id


def _lead_story(client: Any, worker: Any, rt: Any, fake: FakeSlack, slack: SlackSide,
                clock: Any) -> tuple[str, str, list[str]]:
    """Card v1, a question answered in its thread, an SLA reminder, an escalation (manager DM,
    card v2 with its history), then an edit in Slack. Returns the lead id, the edited
    approval id and the handoff ids."""
    events = [event(f"zq-{i}", kind, at=T0 - age, lead=PERSON, **props)
              for i, (kind, age, props) in enumerate([
                  ("page_view", _days(2), {"url": "https://vendor.example/pricing"}),
                  ("email_click", _days(1), {"url": "https://vendor.example/webinar",
                                             "campaign": "Q4 webinar", "source": "linkedin"}),
                  ("inbound_reply", _minutes(30), {"text": REPLY}),
                  ("form_submit", _minutes(5), {"form": "demo", "campaign": "Q4 webinar",
                                                "source": "linkedin"})])]
    lead_id = ingest(client, events)["leads"][0]["lead_id"]
    worker.run_until_idle()
    [v1] = client.get("/v1/approvals").json()
    card = card_message(rt, fake, v1["approval_id"])
    slack.reply(card["channel"], card["ts"], "U0REP0001", "What signals did they show?")
    wait_until(lambda: fake.thread(card["channel"], card["ts"]))
    worker.run_until_idle()

    # First breach: the owner is reminded in the thread; second: the manager is told, a new
    # holder gets card v2. (This test is about erasure, not SLA timing, which
    # tests/service/test_sla_rescue.py pins: under CI load a Slack call of the first breach
    # can be retried a little later, so the clock moves on in steps until v2 exists.)
    for _ in range(6):
        clock.advance(minutes=16)
        worker.run_until_idle()
        pending = client.get("/v1/approvals", params={"status": "pending"}).json()
        if pending and pending[0]["version"] == 2:
            break
    [v2] = client.get("/v1/approvals", params={"status": "pending"}).json()
    assert v2["version"] == 2
    holder = rt.roster.find(v2["assignee"]).slack_id
    card2 = card_message(rt, fake, v2["approval_id"])
    assert slack.click(card2, "Edit", holder).status_code == 200
    [opened] = fake.wait_for("views.open")
    response = slack.submit(opened.params["view"], holder, values={
        "subject": "Your demo, Zephyrine",
        "body_0": f"Hi Zephyrine,\n\nThanks for the note about Erasuredrillcorp. I will ring "
                  f"{PHONE} tomorrow.\n\nBest"})
    assert response.status_code == 200, response.text
    wait_until(lambda: get_approval(rt, v2["approval_id"])["status"] != "pending")
    worker.run_until_idle()
    return lead_id, v2["approval_id"], [v1["handoff_id"]]


def _days(n: int) -> Any:
    from datetime import timedelta

    return timedelta(days=n)


def _minutes(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)
