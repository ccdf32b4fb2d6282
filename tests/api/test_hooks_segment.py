"""POST /hooks/segment: Segment's recorded identify and track calls become a lead and a demo
request; a wrong write key stores nothing; a messageId seen before makes no second event; each
CRM hook is off (404, naming its setting) until its secret is set."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from store.tables import Event, Lead
from tests.api.crm_hooks import (
    crm_settings,
    fixture_bytes,
    fixture_json,
    segment_headers,
    settings,  # noqa: F401 (the fixture: every hook on)
)
from tests.conftest import T0


def _rows(rt: Any, table: Any) -> list[Any]:
    with rt.db.session() as s:
        return list(s.scalars(select(table)))


def _post(client: Any, body: Any, headers: dict[str, str] | None = None) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/hooks/segment", content=content, headers=headers or segment_headers())


def test_identify_then_track_become_a_lead_and_a_demo_request(client: Any, rt: Any) -> None:
    response = _post(client, fixture_bytes("segment_identify.json"))
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True and response.json()["leads_updated"] == 1
    [lead] = _rows(rt, Lead)
    assert (lead.email, lead.first_name, lead.last_name, lead.title) == (
        "sam.okafor@harborline.com", "Sam", "Okafor", "Director of Logistics")
    assert (lead.company, lead.industry, lead.employees, lead.country) == (
        "Harbor Line Logistics", "Logistics", 2400, "NL")
    assert _rows(rt, Event) == []  # identify says who, not what they did

    response = _post(client, fixture_bytes("segment_track.json"))
    assert response.json()["accepted"] == 1
    [event] = _rows(rt, Event)
    assert (event.event_id, event.type, event.lead_id) == (
        "segment:ajs-f8ca1e4de5024d9430b3928bd8ac6b96", "form_submit", lead.id)
    assert event.properties["form"] == "demo" and event.properties["source"] == "segment"


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_track_without_email_finds_its_person_by_user_id(client: Any, rt: Any) -> None:
    track = fixture_json("segment_track.json")
    anonymous = {**track, "context": {}, "userId": "97980cfea0067", "messageId": "m-1"}
    assert _post(client, anonymous).json()["skipped"] == 1  # nobody has named this id yet
    assert _post(client, fixture_bytes("segment_identify.json")).status_code == 200
    assert _post(client, {**anonymous, "messageId": "m-2"}).json()["accepted"] == 1
    [lead] = _rows(rt, Lead)
    [event] = _rows(rt, Event)
    assert event.lead_id == lead.id and lead.email == "sam.okafor@harborline.com"
    # In one batch too: the anonymous id named by the identify before it.
    later = {**anonymous, "userId": None, "anonymousId": "anon-7", "messageId": "m-3"}
    named = {**fixture_json("segment_identify.json"), "anonymousId": "anon-7",
             "messageId": "m-4"}
    assert _post(client, {"batch": [named, later]}).json()["accepted"] == 1

    from service.erasure import erase_lead
    from store.tables import CrmIdentity

    erase_lead(rt, lead.id, actor="privacy@example.com")
    assert _rows(rt, CrmIdentity) == []  # the ids go with their lead


def test_batch_maps_named_events_and_counts_the_rest(client: Any, rt: Any) -> None:
    track = fixture_json("segment_track.json")
    pricing = {**track, "messageId": "m-2", "event": "pricing page viewed",
               "properties": {"url": "https://www.example.com/pricing?plan=team"}}
    unknown = {**track, "messageId": "m-3", "event": "Logo Hovered"}
    no_email = {**track, "messageId": "m-4", "context": {}, "userId": "stranger",
                "anonymousId": None}
    page = {**track, "messageId": "m-5", "type": "page"}
    response = _post(client, {"batch": [track, pricing, unknown, no_email, page]})
    body = response.json()
    assert (body["accepted"], body["leads_updated"], body["skipped"], body["ignored"]) == (
        2, 1, 1, 1)
    by_type = {e.type: e for e in _rows(rt, Event)}
    assert by_type["page_view"].properties["url"] == "https://www.example.com/pricing?plan=team"
    assert by_type["form_submit"].occurred_at.replace(tzinfo=T0.tzinfo).isoformat().startswith(
        "2026-11-18T14:59:01")


def test_same_message_id_is_one_event(client: Any, rt: Any) -> None:
    track = fixture_bytes("segment_track.json")
    assert _post(client, track).json()["accepted"] == 1
    again = _post(client, track).json()  # Segment's library retries on a timeout
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert len(_rows(rt, Event)) == 1


@pytest.mark.parametrize("headers", [
    segment_headers("wrong-key"), {"Authorization": "Bearer segment-write-key-test"},
    {"Authorization": "Basic !!!"}, {"Authorization": ""},
])
def test_wrong_write_key_is_401_and_stores_nothing(client: Any, rt: Any,
                                                   headers: dict[str, str]) -> None:
    response = _post(client, b"{not json", headers=headers)
    assert response.status_code == 401 and "write key" in response.json()["detail"]
    assert _rows(rt, Lead) == []


def test_malformed_calls_name_the_field(client: Any, rt: Any) -> None:
    track = fixture_json("segment_track.json")
    response = _post(client, {"batch": [track, {**track, "messageId": None}]})
    assert response.status_code == 422 and "batch.1.messageId" in response.json()["detail"]
    bad_url = {**track, "event": "Pricing Page Viewed", "properties": {"url": 5}}
    response = _post(client, bad_url)
    assert response.status_code == 422 and "properties.url" in response.json()["detail"]
    assert _post(client, b"[1]").status_code == 422
    assert _rows(rt, Event) == []


@pytest.mark.parametrize(("path", "setting", "off"), [
    ("/hooks/hubspot", "HUBSPOT_CLIENT_SECRET", {"hubspot_client_secret": None}),
    ("/hooks/hubspot", "HUBSPOT_ACCESS_TOKEN", {"hubspot_access_token": None}),
    ("/hooks/salesforce", "SALESFORCE_HOOK_KEY", {"salesforce_hook_key": None}),
    ("/hooks/salesforce", "SALESFORCE_ORG_ID", {"salesforce_org_id": None}),
    ("/hooks/segment", "SEGMENT_WRITE_KEY", {"segment_write_key": None}),
])
def test_each_hook_is_off_until_its_secret_is_set(tmp_path: Any, smtp_sink: Any, clock: Any,
                                                  path: str, setting: str,
                                                  off: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime

    rt = build_runtime(crm_settings(tmp_path, smtp_sink.url,
                                    f"sqlite:///{tmp_path / 'off.db'}", **off), clock=clock)
    rt.db.upgrade()
    try:
        with TestClient(create_app(rt)) as c:
            response = c.post(path, content=b"{}", params={"key": "k"},
                              headers=segment_headers())
        assert response.status_code == 404
        assert setting in response.json()["detail"] and "off" in response.json()["detail"]
    finally:
        rt.close()
