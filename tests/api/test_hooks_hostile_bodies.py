"""Hostile requests get a clear 4xx, never a 500, and leave nothing stored: headers a parser chokes
on, signed bodies nested too deeply or holding a huge number or a NUL character, and a NUL that
PostgreSQL cannot store (SQLite can: the rule is the same on both)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from store.tables import Event, Job, Lead
from tests.api.crm_hooks import (
    fixture_json,
    hubspot_headers,
    segment_headers,
    settings,  # noqa: F401 (the fixture: every hook on)
)
from tests.conftest import LEAD_ADA, T0, event


def _count(rt: Any, table: Any) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def _hubspot(client: Any, body: bytes, **header_overrides: str | bytes) -> Any:
    headers = {**hubspot_headers(body, T0), **header_overrides}
    return client.post("/hooks/hubspot", content=body, headers=headers)


# Header bytes beyond ASCII (superscript digits, which `str.isdigit` calls digits) as sent.
@pytest.mark.parametrize("timestamp", [b"999999999999999", "\u00b9\u00b2\u00b3".encode("latin-1")])
def test_a_hubspot_timestamp_out_of_any_range_is_refused(client: Any, timestamp: bytes) -> None:
    response = _hubspot(client, b"[]", **{"X-HubSpot-Request-Timestamp": timestamp})
    assert response.status_code == 401 and "Timestamp" in response.json()["detail"]


@pytest.mark.parametrize(("body", "says"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'[{"objectId": ' + b"9" * 5000 + b"}]", "not JSON we accept"),
    (json.dumps([{"subscriptionType": "contact.creation", "objectId": 1,
                  "occurredAt": 1, "propertyValue": "a\u0000b"}]).encode(), "NUL"),
])
def test_a_signed_hubspot_body_that_cannot_be_read_is_a_422(client: Any, rt: Any, body: bytes,
                                                             says: str) -> None:
    response = _hubspot(client, body)
    assert response.status_code == 422 and says in response.json()["detail"]
    assert _count(rt, Job) == 0


def test_a_segment_key_beyond_ascii_is_a_401(client: Any) -> None:
    response = client.post("/hooks/segment", content=b"{}",
                           headers={"Authorization": "Basic \u00e9\u00e9".encode("latin-1"),
                                    "Content-Type": "application/json"})
    assert response.status_code == 401 and "write key" in response.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_segment_batch_holding_a_nul_stores_nothing(client: Any, rt: Any) -> None:
    track = fixture_json("segment_track.json")
    identify = {**fixture_json("segment_identify.json"), "userId": "u\u0000"}
    body = json.dumps({"batch": [track, identify]}).encode()
    response = client.post("/hooks/segment", content=body, headers=segment_headers())
    assert response.status_code == 422 and "NUL" in response.json()["detail"]
    assert (_count(rt, Event), _count(rt, Lead)) == (0, 0)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_nul_postgresql_cannot_store_is_a_422_there_too(client: Any, rt: Any) -> None:
    posted = client.post("/v1/events", json={"events": [
        event("a\u0000b", "page_view", at=T0, lead=LEAD_ADA, url="https://x.example/")]})
    assert posted.status_code == 422 and "NUL" in posted.json()["detail"]
    assert (_count(rt, Event), _count(rt, Lead)) == (0, 0)
    for path in ("/v1/leads/%00x", "/v1/approvals/%00", "/v1/outbox/%00"):
        read = client.get(path)
        assert read.status_code == 422 and "NUL" in read.json()["detail"], path


def test_a_query_token_does_not_open_a_route_that_takes_a_body(client: Any) -> None:
    """Only a read takes the conversation token in its query: a POST holding one is asked for
    the bearer token before its body is parsed."""
    response = client.post("/v1/conversations/abc/messages?token=x", content=b"{not json",
                           headers={"Authorization": "", "Content-Type": "application/json"})
    assert response.status_code == 401 and "bearer" in response.json()["detail"]
