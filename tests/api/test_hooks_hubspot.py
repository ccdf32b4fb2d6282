"""POST /hooks/hubspot: recorded v3 deliveries, signed as HubSpot signs them, become leads and
events through the CRM API read (a respx fake of api.hubapi.com); bad or stale signatures store
nothing; redeliveries make one event; a rate-limited API is retried, then visible as stuck."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select

from service import jobs
from service.crm_inbound import HUBSPOT_JOB, hubspot_deliveries_job
from service.worker import Worker
from store.tables import Event, Lead
from tests.api.crm_hooks import (
    HUBSPOT_API,
    crm_settings,
    fixture_bytes,
    fixture_json,
    hubspot_headers,
    settings,  # noqa: F401 (the fixture: every hook on)
)
from tests.conftest import T0

BATCH_READ = f"{HUBSPOT_API}/crm/v3/objects/contacts/batch/read"


def _run_hubspot_jobs(rt: Any) -> None:
    worker = Worker(rt, threads=2, handlers={HUBSPOT_JOB: hubspot_deliveries_job})
    try:
        worker.run_until_idle()
    finally:
        worker.stop()


def _post(client: Any, body: bytes, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", None) or hubspot_headers(body, T0)
    return client.post("/hooks/hubspot", content=body, headers=headers)


def _events(rt: Any) -> list[Event]:
    with rt.db.session() as s:
        return list(s.scalars(select(Event)))


def _leads(rt: Any) -> dict[str, Lead]:
    with rt.db.session() as s:
        return {lead.email: lead for lead in s.scalars(select(Lead))}


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
@respx.mock
def test_form_fill_becomes_a_lead_and_a_demo_request(client: Any, rt: Any) -> None:
    api = respx.post(BATCH_READ).mock(
        return_value=httpx.Response(200, json=fixture_json("hubspot_batch_read.json")))
    body = fixture_bytes("hubspot_form_fill.json")
    response = _post(client, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"queued": 2, "ignored": 1}  # the deal.creation is not a contact
    assert not api.called and _events(rt) == []  # answered before any CRM call

    _run_hubspot_jobs(rt)
    assert api.call_count == 1
    sent = json.loads(api.calls.last.request.content)
    assert sent["inputs"] == [{"id": "123"}]  # both deliveries name contact 123: read once
    assert {"email", "firstname", "jobtitle", "recent_conversion_event_name"} <= set(
        sent["properties"])
    assert api.calls.last.request.headers["Authorization"] == "Bearer pat-test"

    lead = _leads(rt)["dana.reyes@keystone-mfg.com"]
    assert (lead.first_name, lead.last_name, lead.company, lead.title, lead.domain) == (
        "Dana", "Reyes", "Keystone Manufacturing", "VP Operations", "keystone-mfg.com")
    assert (lead.country, lead.employees, lead.industry, lead.timezone) == (
        "US", 1000, "Manufacturing", "America/Chicago")
    [event] = _events(rt)  # contact.creation is not a hand-raise: facts only
    assert event.type == "form_submit" and event.lead_id == lead.id
    assert event.properties["form"] == "demo" and event.properties["source"] == "hubspot"
    assert event.properties["crm_mapping_version"] == rt.crm_mapping.version
    assert event.occurred_at.replace(tzinfo=T0.tzinfo) == T0 - timedelta(minutes=5)
    queued = jobs.list_jobs(rt.db, kind="process_lead")  # the same path as POST /v1/events
    assert [j["payload"] for j in queued] == [{"lead_id": lead.id}]


@respx.mock
def test_docs_example_refreshes_facts_and_skips_a_vanished_contact(client: Any, rt: Any) -> None:
    respx.post(BATCH_READ).mock(return_value=httpx.Response(200, json={
        "status": "COMPLETE", "results": [{"id": "1246965", "archived": False, "properties": {
            "email": "kim@portal33.example", "firstname": "Kim", "lifecyclestage": "subscriber"}}]}))
    assert _post(client, fixture_bytes("hubspot_docs_example.json")).status_code == 200
    _run_hubspot_jobs(rt)
    assert _events(rt) == []  # a lifecycle change and a creation are no hand-raise
    assert list(_leads(rt)) == ["kim@portal33.example"]  # 1246978 is gone from HubSpot
    assert _leads(rt)["kim@portal33.example"].first_name == "Kim"


@pytest.mark.parametrize("case", ["wrong secret", "stale", "future", "tampered", "missing",
                                  "other url", "not a number"])
def test_bad_or_stale_signature_is_401_and_stores_nothing(client: Any, rt: Any,
                                                          case: str) -> None:
    body = fixture_bytes("hubspot_form_fill.json")
    headers = {
        "wrong secret": hubspot_headers(body, T0, secret="not-the-secret"),
        "stale": hubspot_headers(body, T0 - timedelta(minutes=5, seconds=1)),
        "future": hubspot_headers(body, T0 + timedelta(minutes=6)),
        "tampered": hubspot_headers(body.replace(b"Request a demo", b"Request a demo!"), T0),
        "missing": {"Content-Type": "application/json", "Authorization": ""},
        "other url": hubspot_headers(body, T0, uri="https://evil.example/hooks/hubspot"),
        "not a number": {**hubspot_headers(body, T0), "X-HubSpot-Request-Timestamp": "soon"},
    }[case]
    response = _post(client, body, headers=headers)
    assert response.status_code == 401
    assert "X-HubSpot" in response.json()["detail"]
    assert jobs.list_jobs(rt.db) == [] and _events(rt) == []


def test_signature_is_checked_before_the_body_is_parsed(client: Any, rt: Any) -> None:
    body = b"[{not json"
    assert _post(client, body, headers=hubspot_headers(body, T0, secret="x")).status_code == 401
    response = _post(client, body)  # signed: now the body may be read, and it is refused
    assert response.status_code == 422 and "not JSON" in response.json()["detail"]
    bad = json.dumps([{"subscriptionType": "contact.creation", "objectId": "x",
                       "occurredAt": 1}]).encode()
    response = _post(client, bad)
    assert response.status_code == 422 and "0.objectId" in response.json()["detail"]
    assert jobs.list_jobs(rt.db) == []


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
@respx.mock
def test_redeliveries_and_retries_make_one_event(client: Any, rt: Any) -> None:
    api = respx.post(BATCH_READ).mock(
        return_value=httpx.Response(200, json=fixture_json("hubspot_batch_read.json")))
    delivery = fixture_json("hubspot_form_fill.json")[:1]
    first = json.dumps(delivery).encode()
    # HubSpot's retry: same change, a new attempt number and (eventId is not unique) a new id.
    retry = json.dumps([{**delivery[0], "attemptNumber": 1, "eventId": 999}]).encode()
    assert _post(client, first).status_code == 200
    assert _post(client, first).status_code == 200  # queued twice: one pending job
    assert len(jobs.list_jobs(rt.db, kind=HUBSPOT_JOB)) == 1
    _run_hubspot_jobs(rt)
    assert _post(client, retry).status_code == 200  # after processing: a new job...
    _run_hubspot_jobs(rt)
    assert len(_events(rt)) == 1  # ...that stores nothing new
    assert api.call_count == 1  # and the contact came from the cache


@respx.mock
def test_rate_limit_retries_after_retry_after_then_is_visible_as_stuck(
        client: Any, rt: Any, clock: Any) -> None:
    api = respx.post(BATCH_READ).mock(return_value=httpx.Response(
        429, headers={"Retry-After": "30"}, json=fixture_json("hubspot_rate_limited.json")))
    assert _post(client, fixture_bytes("hubspot_form_fill.json")).status_code == 200
    _run_hubspot_jobs(rt)
    [job] = jobs.list_jobs(rt.db, kind=HUBSPOT_JOB)
    assert job["status"] == "retrying" and "429" in job["last_error"]
    assert job["next_attempt_at"].replace(tzinfo=T0.tzinfo) >= T0 + timedelta(seconds=30)
    _run_hubspot_jobs(rt)  # not due yet: HubSpot is not asked again
    assert api.call_count == 1

    clock.advance(hours=rt.settings.integration_retry_hours + 1)
    _run_hubspot_jobs(rt)  # the budget is spent: parked, listed with the other stuck work
    listed = client.get("/v1/jobs", params={"status": "failed"}).json()
    rows = listed if isinstance(listed, list) else listed.get("jobs", listed)
    assert [r["kind"] for r in rows] == [HUBSPOT_JOB]
    assert _events(rt) == []

    api.mock(return_value=httpx.Response(200, json=fixture_json("hubspot_batch_read.json")))
    clock.set(T0)  # the delivery's own time again, so the retried job's read is fresh
    assert client.post(f"/v1/jobs/{job['job_id']}/retry").status_code == 200
    _run_hubspot_jobs(rt)
    assert [e.type for e in _events(rt)] == ["form_submit"]


@respx.mock
def test_outage_is_retried(client: Any, rt: Any) -> None:
    respx.post(BATCH_READ).mock(side_effect=httpx.ConnectError("down"))
    assert _post(client, fixture_bytes("hubspot_form_fill.json")).status_code == 200
    _run_hubspot_jobs(rt)
    [job] = jobs.list_jobs(rt.db, kind=HUBSPOT_JOB)
    assert job["status"] == "retrying" and "unreachable" in job["last_error"]


def test_hook_is_off_until_its_secret_is_set(tmp_path: Any, smtp_sink: Any, clock: Any,
                                              content_library: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime

    off = crm_settings(tmp_path, smtp_sink.url, f"sqlite:///{tmp_path / 'off.db'}",
                       hubspot_client_secret=None)
    rt = build_runtime(off, clock=clock, library_override=content_library)
    rt.db.upgrade()
    try:
        with TestClient(create_app(rt)) as c:
            body = fixture_bytes("hubspot_form_fill.json")
            response = c.post("/hooks/hubspot", content=body, headers=hubspot_headers(body, T0))
        assert response.status_code == 404
        assert "HUBSPOT_CLIENT_SECRET" in response.json()["detail"]
    finally:
        rt.close()


@respx.mock
def test_demo_request_in_hubspot_becomes_an_approval_card(client: Any, rt: Any,
                                                          worker: Any) -> None:
    respx.post(BATCH_READ).mock(
        return_value=httpx.Response(200, json=fixture_json("hubspot_batch_read.json")))
    # The write-back to HubSpot (on with HUBSPOT_ACCESS_TOKEN) is another test's subject.
    respx.route(host="hubspot.test").mock(return_value=httpx.Response(200, json={
        "results": [], "total": 0, "id": "1"}))
    assert _post(client, fixture_bytes("hubspot_form_fill.json")).status_code == 200
    worker.run_until_idle()  # every job: the contact read, qualification, the draft
    lead = _leads(rt)["dana.reyes@keystone-mfg.com"]
    approvals = client.get("/v1/approvals").json()
    assert [a["lead_id"] for a in approvals] == [lead.id]
    assert approvals[0]["status"] == "pending"
