"""Salesforce round trip, as an admin sets it up from the README's connector sections: an
outbound message on Lead (endpoint `$HITL_PUBLIC_URL/hooks/salesforce?key=...`) is stored and
acknowledged; the demo request becomes an approval card; the rep rejects it with a reason over
the API; and the org (a respx fake of the REST API) holds the owner's Task (why now, SLA due)
and the Lead Status the mapping gives the reason, each once with its idempotency key. No email
goes out. Salesforce's retries and replayed write-back jobs change nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import respx

from config.settings import Settings
from service import crm_writeback
from service.crm_writeback import CRM_JOB_HANDLERS
from tests.api.crm_fakes import SF_INSTANCE, SF_LEAD_ID, SF_USER_ID, SalesforceOrg
from tests.api.crm_hooks import SF_KEY, crm_settings, fixture_bytes
from tests.flow import decide

SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
                "Authorization": ""}


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, database_url: str) -> Settings:
    """The hooks on; write-back to Salesforce only (README: SALESFORCE_INSTANCE_URL and
    SALESFORCE_ACCESS_TOKEN)."""
    return crm_settings(tmp_path, smtp_sink.url, database_url, hubspot_access_token=None,
                        salesforce_instance_url=SF_INSTANCE, salesforce_access_token="sf-token")


@pytest.fixture
def org() -> Any:
    with respx.mock(assert_all_called=False) as router:
        yield SalesforceOrg(router).install()


@pytest.fixture
def crm_jobs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    ran: list[tuple[str, dict[str, Any]]] = []
    real = crm_writeback.run_write

    def recording(rt: Any, kind: str, payload: dict[str, Any]) -> None:
        ran.append((kind, dict(payload)))
        real(rt, kind, payload)

    monkeypatch.setattr(crm_writeback, "run_write", recording)
    return ran


def _deliver(client: Any) -> None:
    response = client.post("/hooks/salesforce", params={"key": SF_KEY},
                           content=fixture_bytes("salesforce_outbound_lead.xml"),
                           headers=SOAP_HEADERS)
    assert response.status_code == 200 and b"<Ack>true</Ack>" in response.content


def test_outbound_message_to_card_to_rejected_status_and_task(client, worker, rt, smtp_sink,
                                                              org, crm_jobs) -> None:
    _deliver(client)
    worker.run_until_idle()
    [card] = client.get("/v1/approvals", params={"status": "pending"}).json()
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    assert (lead["email"], lead["company"]) == ("priya.shah@brightlane.io",
                                                "Brightlane Software")
    handoff, version = card["handoff_id"], card["version"]

    response = decide(client, card["approval_id"], action="reject", actor=card["assignee"],
                      reason_code="not_icp")
    assert response.status_code == 200, response.text
    worker.run_until_idle()
    assert smtp_sink.messages == []

    # The owner's Task, upserted once by its key, on the Lead, for the owner's User.
    task_key = f"crm:salesforce:task:{handoff}:v{version}"
    assert org.task_calls == [task_key]
    task = org.tasks[task_key]
    assert (task["WhoId"], task["OwnerId"]) == (SF_LEAD_ID, SF_USER_ID)
    assert card["context"]["why_now"] and card["context"]["why_now"] in task["Description"]
    assert task["ActivityDate"] == card["sla_due_at"][:10]
    assert task["Status"] == "Not Started" and "Priya" in task["Subject"]
    owner = rt.roster.find(card["assignee"])
    user_queries = [c.request.url.params["q"] for c in org.router["query"].calls
                    if "FROM User" in c.request.url.params["q"]]
    assert user_queries and all(f"Email = '{owner.email}'" in q for q in user_queries)

    # Lead Status: handoff_started, then the reject's reason code (not_icp), from the mapping.
    assert org.lead_patches == [{"Status": "Open - Not Contacted"},
                                {"Status": "Closed - Not Converted"}]
    assert org.router["lead"].calls.last.request.headers["Authorization"] == "Bearer sf-token"

    # Salesforce retries the message (no Ack seen) and every write-back job runs again.
    _deliver(client)
    worker.run_until_idle()
    for kind, payload in list(crm_jobs):
        CRM_JOB_HANDLERS[kind](rt, payload)
    assert org.task_calls == [task_key] and len(org.lead_patches) == 2
    assert client.get("/v1/approvals", params={"status": "pending"}).json() == []
