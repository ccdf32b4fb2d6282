"""HubSpot round trip, as an admin sets it up from the README's connector sections: HubSpot
signs a v3 delivery of a demo-request form fill to POST /hooks/hubspot; the product reads the
contact through the CRM API (a respx portal), qualifies it and opens an approval card; the rep
approves over the API; the email goes out once (a real SMTP server); and the portal holds the
owner's task (why now, SLA due), the lead status / lifecycle stage from the mapping and the
email logged on the contact, each once, with its idempotency key. Replays change nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import respx
from sqlalchemy import select

from service import crm_writeback
from service.crm_writeback import CRM_JOB_HANDLERS
from store.tables import Approval
from tests.api.crm_fakes import HUBSPOT_OWNER_ID, KEY_PROPERTY, HubSpotPortal
from tests.api.crm_hooks import (
    fixture_bytes,
    hubspot_headers,
    settings,  # noqa: F401 (the fixture: every hook on, HUBSPOT_ACCESS_TOKEN set)
)
from tests.conftest import T0
from tests.flow import decide


@pytest.fixture
def portal() -> Any:
    with respx.mock(assert_all_called=False) as router:
        yield HubSpotPortal(router).install()


def _millis(iso: str) -> str:
    return str(int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000))


@pytest.fixture
def crm_jobs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every write-back job the worker runs, as (kind, payload), to run them again later."""
    ran: list[tuple[str, dict[str, Any]]] = []
    real = crm_writeback.run_write

    def recording(rt: Any, kind: str, payload: dict[str, Any]) -> None:
        ran.append((kind, dict(payload)))
        real(rt, kind, payload)

    monkeypatch.setattr(crm_writeback, "run_write", recording)
    return ran


def _replay(rt: Any, jobs: list[tuple[str, dict[str, Any]]]) -> None:
    """Every write-back job run again, as a crash before its completion or `hitl jobs retry`
    would: the audit ledger answers, the CRM hears nothing new."""
    assert jobs, "the write-back ran as jobs"
    for kind, payload in list(jobs):
        CRM_JOB_HANDLERS[kind](rt, payload)


def test_demo_request_to_card_to_crm_task_status_and_email(client, worker, rt, smtp_sink,
                                                           portal, crm_jobs) -> None:
    # 1. HubSpot delivers the form fill (README: target URL $HITL_PUBLIC_URL/hooks/hubspot,
    #    signed with the app's client secret over that URL).
    body = fixture_bytes("hubspot_form_fill.json")
    response = client.post("/hooks/hubspot", content=body, headers=hubspot_headers(body, T0))
    assert response.status_code == 200, response.text
    worker.run_until_idle()
    assert portal.router["batch_read"].call_count == 1

    # 2. The demo request became one approval card, with the contact's facts from the API.
    [card] = client.get("/v1/approvals", params={"status": "pending"}).json()
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    assert lead["email"] == "dana.reyes@keystone-mfg.com" and lead["company"] == \
        "Keystone Manufacturing"
    handoff, version = card["handoff_id"], card["version"]
    owner = rt.roster.find(card["assignee"])

    # 3. The rep approves over the API; the email goes out once.
    assert decide(client, card["approval_id"], action="approve",
                  actor=card["assignee"]).status_code == 200
    worker.run_until_idle()
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["dana.reyes@keystone-mfg.com"]]

    # 4. In HubSpot: the owner's task, once, keyed, due at the SLA, associated with contact 123.
    [task] = portal.created["tasks"]
    props = task["properties"]
    assert props[KEY_PROPERTY] == f"crm:hubspot:task:{handoff}:v{version}"
    assert card["context"]["why_now"] and card["context"]["why_now"] in props["hs_task_body"]
    assert props["hs_timestamp"] == _millis(card["sla_due_at"])
    assert card["sla_due_at"][:10] in props["hs_task_body"]  # "Respond by ... UTC (SLA)"
    assert props["hubspot_owner_id"] == HUBSPOT_OWNER_ID
    assert portal.router["owners"].calls.last.request.url.params["email"] == owner.email
    assert task["associations"] == [{"to": {"id": "123"}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]

    # The statuses from config/defaults/crm.toml: handoff_started, then approve.
    assert portal.patches == [
        {"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN"},
        {"hs_lead_status": "ATTEMPTED_TO_CONTACT"}]
    assert portal.contact["lifecyclestage"] == "salesqualifiedlead"

    # The sent email logged on the contact, once, keyed.
    [email] = portal.created["emails"]
    sent = email["properties"]
    assert sent[KEY_PROPERTY] == f"crm:hubspot:email:{handoff}:v{version}"
    assert (sent["hs_email_direction"], sent["hs_email_status"]) == ("EMAIL", "SENT")
    assert sent["hs_email_subject"] == card["draft"]["subject"]
    assert email["associations"][0]["types"][0]["associationTypeId"] == 198
    assert portal.router["tasks_create"].calls.last.request.headers["Authorization"] == \
        "Bearer pat-test"

    # 5. HubSpot retries the delivery and every write-back job runs again: nothing new.
    calls = len(portal.router.calls)
    retried = body.replace(b'"attemptNumber": 0', b'"attemptNumber": 1')
    assert client.post("/hooks/hubspot", content=retried,
                       headers=hubspot_headers(retried, T0)).status_code == 200
    worker.run_until_idle()
    with rt.db.session() as s:
        assert [a.id for a in s.scalars(select(Approval))] == [card["approval_id"]]
    _replay(rt, crm_jobs)
    crm_writes = [c for c in list(portal.router.calls)[calls:]
                  if c.request.method in {"PATCH"} or c.request.url.path.endswith(
                      ("/objects/tasks", "/objects/emails"))]
    assert crm_writes == []
    assert len(portal.created["tasks"]) == len(portal.created["emails"]) == 1
    assert len(portal.patches) == 2 and len(smtp_sink.messages) == 1
