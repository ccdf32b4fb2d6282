"""The automatic no-response recycle changes a lead's status without a human decision, so the
product says so itself: the CRM gets the mapping's `recycled` status through the write-back job
path (one call, keyed), and the former owner is told once (an email when Slack cannot reach
them, a Slack DM otherwise). Injected clock, real SMTP; a replayed recycle adds nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service.nurture import check_no_response
from store.tables import AuditEntry
from tests.flow import decide, pending_card
from tools.crm.writer import RecordingCrmWriter

LEAD = {"email": "ada@acme.io", "first_name": "<!channel> Ada", "company": "*Acme* <http://x>"}


@pytest.fixture
def crm(rt: Any) -> RecordingCrmWriter:
    double = RecordingCrmWriter()
    rt.crm_override = [double]
    return double


def _emailed_then_silent(client: Any, worker: Any, clock: Any, smtp_sink: Any
                         ) -> dict[str, Any]:
    """One outreach email approved and sent, then 14 days without an answer: recycled."""
    card = pending_card(client, worker)
    assert decide(client, card["approval_id"], action="approve",
                  actor=card["assignee"]).status_code == 200
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1
    clock.advance(days=14, hours=1)
    worker.run_until_idle()
    return card


def _recycled(rt: Any) -> AuditEntry:
    with rt.db.session() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "recycled"))
        return entry


def _statuses(crm: RecordingCrmWriter, outcome: str) -> list[dict[str, Any]]:
    return [c for c in crm.calls
            if c["kind"] == "lead_status" and c["idempotency_key"].endswith(f":{outcome}")]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_recycle_writes_the_status_once_and_emails_the_former_owner_once(
        client, worker, rt, clock, smtp_sink, crm) -> None:
    card = _emailed_then_silent(client, worker, clock, smtp_sink)
    recycled = _recycled(rt)
    assert recycled.actor == "system" and recycled.detail["reason"] == "no_response"

    # The CRM: one status write, keyed by the outreach it ends, the mapping's `recycled` values.
    key = f"crm:recording:status:{card['handoff_id']}:v{card['version']}:recycled"
    [status] = _statuses(crm, "recycled")
    assert status["idempotency_key"] == key and status["contact_email"] == "ada@acme.io"
    outcome = rt.crm_mapping.outcomes["recycled"]
    assert status["fields"] == {k: v for k, v in outcome.model_dump().items() if v}
    assert status["fields"]["hubspot_lead_status"] == "ATTEMPTED_TO_CONTACT"
    assert crm.received.count(key) == 1

    # The former owner (no Slack here): one email from the roster, about this lead.
    owner = rt.roster.find(card["assignee"])
    [notice] = smtp_sink.messages[1:]
    assert notice.rcpt_tos == [owner.email]
    assert notice.subject == "A lead you emailed never answered: recycled to nurture"
    text = notice.body
    assert "never answered" in text and "/v1/leads/" + card["lead_id"] in text
    assert "1 since" in text and "lead status in the CRM was updated" in text
    assert "no longer yours to follow up" in text

    # Replayed: the timer again (a crash after its commit), and ten more days of timers.
    check_no_response(rt, {"lead_id": card["lead_id"],
                           "since": recycled.detail["first_attempt_at"]})
    clock.advance(days=10)
    worker.run_until_idle()
    assert crm.received.count(key) == 1 and len(_statuses(crm, "recycled")) == 1
    assert len(smtp_sink.messages) == 2


def test_a_file_without_recycled_writes_the_no_response_values(rt) -> None:
    from tools.crm.mapping import CrmMapping

    data = rt.crm_mapping.model_dump(by_alias=True)
    del data["outcomes"]["recycled"]
    mapping = CrmMapping.model_validate(data)
    assert mapping.outcome("recycled") == mapping.outcomes["no_response"]


def test_a_policy_that_keeps_the_owner_says_so() -> None:
    from prompts import render

    args = dict(recipient_name="Riley", slack_off=True, lead_name="Ada", company="Acme",
                attempts=2, since="2026-11-18 15:00 UTC", track=None, lead_url="u",
                link_expires=None, crm=False)
    kept = render("recycle_notice_email.j2", kept_owner=True, **args)
    assert "you stay its owner" in kept and "no longer yours" not in kept
    assert "no longer yours" in render("recycle_notice_email.j2", kept_owner=False, **args)


def test_without_a_crm_the_recycle_still_tells_the_owner(client, worker, rt, clock,
                                                       smtp_sink) -> None:
    assert rt.crm_writers == []
    _emailed_then_silent(client, worker, clock, smtp_sink)
    [notice] = smtp_sink.messages[1:]  # after the lead's email, the owner's notice
    assert "never answered" in notice.body and "CRM" not in notice.body


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Any, smtp_sink: Any,
             database_url: str) -> Any:
    """Slack off, except for the tests named `test_with_slack_*` (`slack_settings`); the tests
    named `test_hubspot_*` have the HubSpot hook and write-back on."""
    if request.node.name.startswith("test_with_slack"):
        return request.getfixturevalue("slack_settings")
    if request.node.name.startswith("test_hubspot"):
        from tests.api.crm_hooks import crm_settings

        return crm_settings(tmp_path, smtp_sink.url, database_url)
    from tests.conftest import make_settings

    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url)


def test_with_slack_the_former_owner_gets_one_dm_with_the_lead_inert(
        client, worker, rt, clock, smtp_sink, crm, fake_slack) -> None:
    from tests.conftest import hand_raise

    card = pending_card(client, worker, hand_raise(lead=LEAD))
    assert decide(client, card["approval_id"], action="approve",
                  actor=card["assignee"]).status_code == 200
    worker.run_until_idle()
    clock.advance(days=14, hours=1)
    worker.run_until_idle()
    owner = rt.roster.find(card["assignee"])
    dms = [c for c in fake_slack.calls("chat.postMessage")
           if ":recycle:" in str(c.params.get("text"))]
    assert len(dms) == 1 and dms[0].params["channel"] == "D" + owner.slack_id[1:]
    text = dms[0].params["text"]
    assert "Ada" in text and "lead status in the CRM was updated" in text
    assert "<!channel>" not in text and "<http://x>" not in text and "*Acme*" not in text
    assert len(smtp_sink.messages) == 1  # no email notice: Slack reached them
    assert len(_statuses(crm, "recycled")) == 1

    check_no_response(rt, {"lead_id": card["lead_id"],
                           "since": _recycled(rt).detail["first_attempt_at"]})
    clock.advance(days=10)
    worker.run_until_idle()
    assert len([c for c in fake_slack.calls("chat.postMessage")
                if ":recycle:" in str(c.params.get("text"))]) == 1


def test_hubspot_gets_one_status_call_for_the_recycle(client, worker, rt, clock,
                                                     smtp_sink) -> None:
    """The same on a respx HubSpot portal, the lead arriving by the signed webhook: the recycle
    is one more PATCH of the contact with the mapping's `recycled` lead status, and no more."""
    import respx

    from tests.api.crm_fakes import HubSpotPortal
    from tests.api.crm_hooks import fixture_bytes, hubspot_headers

    with respx.mock(assert_all_called=False) as router:
        portal = HubSpotPortal(router).install()
        body = fixture_bytes("hubspot_form_fill.json")
        assert client.post("/hooks/hubspot", content=body,
                           headers=hubspot_headers(body, clock.now())).status_code == 200
        worker.run_until_idle()
        [card] = client.get("/v1/approvals", params={"status": "pending"}).json()
        assert decide(client, card["approval_id"], action="approve",
                      actor=card["assignee"]).status_code == 200
        worker.run_until_idle()
        assert len(portal.patches) == 2  # handoff_started, approve
        clock.advance(days=14, hours=1)
        worker.run_until_idle()
        assert portal.patches[2:] == [{"hs_lead_status": "ATTEMPTED_TO_CONTACT"}]
        [notice] = smtp_sink.messages[1:]
        assert notice.rcpt_tos == [rt.roster.find(card["assignee"]).email]

        check_no_response(rt, {"lead_id": card["lead_id"],
                               "since": _recycled(rt).detail["first_attempt_at"]})
        clock.advance(days=10)
        worker.run_until_idle()
        assert len(portal.patches) == 3 and len(smtp_sink.messages) == 2
