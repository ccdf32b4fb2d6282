"""Write-back to a real-shaped HubSpot (respx fake of its CRM v3 API): the request bodies and
idempotency keys the product sends after a card and a decision, and an outage of hours on an
injected clock: 503s and 429s with Retry-After are retried within HITL_INTEGRATION_RETRY_HOURS,
then the job is parked and listed by GET /v1/jobs?status=failed with HubSpot's answer."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select

from store.tables import Job
from tests.conftest import make_settings
from tests.flow import decide, pending_card

HS = "https://hubspot.test"
EMAIL = "ada@acme.io"


@pytest.fixture
def settings(tmp_path, smtp_sink, database_url):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         hubspot_api_url=HS, hubspot_access_token="hs-test-token",
                         integration_retry_hours=3)


@pytest.fixture
def hubspot() -> Any:
    with respx.mock(base_url=HS, assert_all_called=False) as router:
        router.get("/crm/v3/owners").respond(json={"results": [{"id": "77"}]})
        router.get(f"/crm/v3/objects/contacts/{EMAIL}").respond(json={"id": "501"})
        router.post("/crm/v3/objects/tasks/search").respond(json={"results": []})
        router.post("/crm/v3/objects/emails/search").respond(json={"results": []})
        router.post("/crm/v3/objects/tasks", name="task").respond(201, json={"id": "9001"})
        router.post("/crm/v3/objects/emails", name="email").respond(201, json={"id": "e1"})
        router.patch(f"/crm/v3/objects/contacts/{EMAIL}", name="status").respond(
            json={"id": "501"})
        yield router


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _bodies(route: Any) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_card_and_decision_write_task_status_and_email_to_hubspot(client, worker, rt,
                                                                  hubspot) -> None:
    card = pending_card(client, worker)
    handoff, version = card["handoff_id"], card["version"]
    (task,) = _bodies(hubspot["task"])
    assert task["properties"]["hitl_idempotency_key"] == f"crm:hubspot:task:{handoff}:v{version}"
    assert task["properties"]["hubspot_owner_id"] == "77"
    assert card["context"]["why_now"] in task["properties"]["hs_task_body"]
    assert task["associations"][0]["to"] == {"id": "501"}
    assert _bodies(hubspot["status"]) == [{"properties": {
        "lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN"}}]

    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    assert _bodies(hubspot["status"])[1:] == [{"properties": {
        "hs_lead_status": "ATTEMPTED_TO_CONTACT"}}]
    (email,) = _bodies(hubspot["email"])
    assert email["properties"]["hitl_idempotency_key"] == \
        f"crm:hubspot:email:{handoff}:v{version}"
    assert email["properties"]["hs_email_subject"] == card["draft"]["subject"]
    assert hubspot["task"].call_count == 1  # nothing written twice


def test_an_outage_of_hours_is_retried_then_parked_and_listed(client, worker, rt, clock,
                                                              hubspot) -> None:
    card = pending_card(client, worker)
    # HubSpot goes down: 503s, then rate limits asking for two minutes.
    answers = iter([httpx.Response(503)] * 3)
    hubspot["status"].side_effect = lambda request: next(
        answers, httpx.Response(429, headers={"Retry-After": "120"}))
    decide(client, card["approval_id"], action="reject", actor="U0REP0001",
           reason_code="no_response")
    worker.run_until_idle()
    retrying = client.get("/v1/jobs", params={"status": "retrying"}).json()
    assert [j["kind"] for j in retrying] == ["crm_lead_status"]
    assert "503" in retrying[0]["last_error"]

    first_429 = hubspot["status"].call_count + 3  # two more 503s, then the rate limit
    waited_for_429: timedelta | None = None
    started = clock.now()
    while clock.now() < started + timedelta(hours=4):
        clock.advance(minutes=1)
        worker.run_until_idle()
        if waited_for_429 is None and hubspot["status"].call_count >= first_429:
            (job,) = client.get("/v1/jobs", params={"status": "retrying"}).json()
            assert "429" in job["last_error"]
            waited_for_429 = _at(job["next_attempt_at"]) - clock.now()
        if client.get("/v1/jobs", params={"status": "failed"}).json():
            break
    # Backoff after four failures is at most 16 s: the wait is HubSpot's Retry-After.
    assert waited_for_429 is not None and waited_for_429 >= timedelta(seconds=120)
    failed = client.get("/v1/jobs", params={"status": "failed"}).json()
    assert [j["kind"] for j in failed] == ["crm_lead_status"]
    job = failed[0]
    assert job["payload"]["key"] == \
        f"crm:hubspot:status:{card['handoff_id']}:v{card['version']}:no_response"
    assert "429" in job["last_error"]
    assert timedelta(hours=3) <= clock.now() - started <= timedelta(hours=3, minutes=20)
    assert hubspot["status"].call_count > 10  # retried all along, not given up early
    with rt.db.read() as s:
        parked = s.scalars(select(Job).where(Job.kind == "crm_lead_status")).one()
    assert parked.failed_at is not None

    # HubSpot is back; a person retries the parked job: the status is written, once.
    hubspot["status"].side_effect = None
    hubspot["status"].respond(json={"id": "501"})
    before = hubspot["status"].call_count
    assert client.post(f"/v1/jobs/{job['job_id']}/retry").status_code == 200
    worker.run_until_idle()
    assert hubspot["status"].call_count == before + 1
    assert json.loads(hubspot["status"].calls.last.request.content) == {
        "properties": {"hs_lead_status": "ATTEMPTED_TO_CONTACT"}}
    assert client.get("/v1/jobs", params={"status": "failed"}).json() == []
