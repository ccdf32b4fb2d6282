"""POST /hooks/hubspot, further: generic webhooks (`object.*` on contacts) match the contact
rules; a GDPR deletion in HubSpot erases the lead here; the contact cache stays bounded."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import respx
from sqlalchemy import select

from service.crm_inbound import HUBSPOT_JOB, hubspot_deliveries_job
from service.worker import Worker
from store.tables import AuditEntry, CrmIdentity, Event, Lead
from tests.api.crm_hooks import (
    HUBSPOT_API,
    fixture_json,
    hubspot_headers,
    settings,  # noqa: F401 (the fixture: every hook on)
)
from tests.conftest import T0
from tools.crm import hubspot_api

BATCH_READ = f"{HUBSPOT_API}/crm/v3/objects/contacts/batch/read"


def _deliver(client: Any, rt: Any, deliveries: list[dict[str, Any]]) -> None:
    body = json.dumps(deliveries).encode()
    response = client.post("/hooks/hubspot", content=body, headers=hubspot_headers(body, T0))
    assert response.status_code == 200, response.text
    worker = Worker(rt, threads=2, handlers={HUBSPOT_JOB: hubspot_deliveries_job})
    try:
        worker.run_until_idle()
    finally:
        worker.stop()


def _rows(rt: Any, table: Any) -> list[Any]:
    with rt.db.session() as s:
        return list(s.scalars(select(table)))


@respx.mock
def test_generic_webhook_on_a_contact_matches_the_contact_rules(client: Any, rt: Any) -> None:
    respx.post(BATCH_READ).mock(
        return_value=httpx.Response(200, json=fixture_json("hubspot_batch_read.json")))
    form_fill = fixture_json("hubspot_form_fill.json")[0]
    generic = {**form_fill, "subscriptionType": "object.propertyChange", "objectTypeId": "0-1"}
    deal = {**generic, "objectTypeId": "0-3", "objectId": 9876}  # a deal: not ours
    _deliver(client, rt, [generic, deal])
    [event] = _rows(rt, Event)
    assert event.type == "form_submit" and event.properties["form"] == "demo"


@respx.mock
def test_privacy_deletion_in_hubspot_erases_the_lead(client: Any, rt: Any) -> None:
    api = respx.post(BATCH_READ).mock(
        return_value=httpx.Response(200, json=fixture_json("hubspot_batch_read.json")))
    _deliver(client, rt, fixture_json("hubspot_form_fill.json")[:1])
    [lead] = _rows(rt, Lead)
    assert [i.external_id for i in _rows(rt, CrmIdentity)] == ["contact:123"]

    deletion = {"eventId": 5, "subscriptionId": 9, "portalId": 12345678, "appId": 98765,
                "occurredAt": int((T0 - timedelta(minutes=1)).timestamp() * 1000),
                "subscriptionType": "contact.privacyDeletion", "attemptNumber": 0,
                "objectId": 123, "changeSource": "GDPR"}
    _deliver(client, rt, [deletion])
    assert _rows(rt, Lead) == [] and _rows(rt, Event) == [] and _rows(rt, CrmIdentity) == []
    assert api.call_count == 1  # a deleted contact is not read
    erasures = [a for a in _rows(rt, AuditEntry) if a.actor == "hubspot:contact.privacyDeletion"]
    assert erasures, "the erasure is audited as HubSpot's"
    _deliver(client, rt, [{**deletion, "attemptNumber": 1}])  # a redelivery changes nothing
    assert lead.id not in {row.id for row in _rows(rt, Lead)}


@respx.mock
def test_contact_cache_is_bounded_and_expires(monkeypatch: Any, clock: Any) -> None:
    monkeypatch.setattr(hubspot_api, "CACHE_ENTRIES", 3)

    def answer(request: httpx.Request) -> httpx.Response:
        ids = [i["id"] for i in json.loads(request.content)["inputs"]]
        return httpx.Response(200, json={"results": [
            {"id": i, "properties": {"email": f"{i}@x.io"}} for i in ids]})

    api = respx.post(BATCH_READ).mock(side_effect=answer)
    contacts = hubspot_api.HubSpotContacts(HUBSPOT_API, "t", now=clock.now,
                                           ttl=timedelta(minutes=2))
    assert set(contacts.read(["1", "2", "3", "4"], ["email"])) == {"1", "2", "3", "4"}
    assert len(contacts._cache) == 3  # the oldest went
    contacts.read(["4"], ["email"])
    assert api.call_count == 1  # "4" came from the cache
    clock.advance(minutes=3)
    contacts.read(["4"], ["email"])
    assert api.call_count == 2  # expired: read again


@respx.mock
def test_erasure_takes_the_persons_changes_out_of_a_waiting_delivery_job(
        client: Any, rt: Any) -> None:
    """A delivery job waits (HubSpot refusing our token, an outage) holding contacts' changes:
    erasing a lead takes its contact's deliveries out by contact id, and leaves the others'."""
    from store.tables import Job

    respx.post(BATCH_READ).mock(
        return_value=httpx.Response(200, json=fixture_json("hubspot_batch_read.json")))
    form_fill = fixture_json("hubspot_form_fill.json")[0]
    _deliver(client, rt, [form_fill])  # contact 123 became a lead
    [lead] = _rows(rt, Lead)

    change = {**form_fill, "subscriptionType": "contact.propertyChange",
              "propertyName": "lastname", "propertyValue": "Reyes-Quillfeather"}
    for batch in ([{**change, "eventId": 11}, {**change, "eventId": 12, "objectId": 456}],
                  [{**change, "eventId": 13}]):
        body = json.dumps(batch).encode()
        assert client.post("/hooks/hubspot", content=body,
                           headers=hubspot_headers(body, T0)).status_code == 200
    def waiting() -> list[Any]:
        return [job for job in _rows(rt, Job) if job.kind == HUBSPOT_JOB]

    assert len(waiting()) == 2  # queued, not run: no worker runs here

    assert client.delete(f"/v1/leads/{lead.id}").status_code == 200
    [left] = waiting()
    assert [d["objectId"] for d in left.payload["deliveries"]] == [456]
    assert "Reyes-Quillfeather" in json.dumps(left.payload)  # contact 456's change, not theirs


@respx.mock
def test_an_expired_contact_leaves_the_cache_at_the_next_read(clock: Any) -> None:
    respx.post(BATCH_READ).mock(side_effect=lambda request: httpx.Response(200, json={
        "results": [{"id": i["id"], "properties": {"email": f"{i['id']}@x.io"}}
                    for i in json.loads(request.content)["inputs"]]}))
    contacts = hubspot_api.HubSpotContacts(HUBSPOT_API, "t", now=clock.now,
                                           ttl=timedelta(minutes=2))
    contacts.read(["1"], ["email"])
    clock.advance(minutes=3)
    contacts.read(["2"], ["email"])
    assert [key[0] for key in contacts._cache] == ["2"]  # "1"'s record is gone, not just stale
