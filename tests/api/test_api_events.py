"""POST /v1/events as a CRM webhook drives it: auth, idempotency, all-or-nothing 422s."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from store.tables import Event, Lead
from tests.conftest import LEAD_ADA, T0, event, hand_raise


def _count(rt, table) -> int:
    with rt.db.session() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_requires_bearer_token(client, rt) -> None:
    body = event("e-1", "page_view", at=T0, url="https://x.example/pricing")
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        response = client.post("/v1/events", json=body, headers=headers)
        assert response.status_code == 401
        assert "token" in response.json()["detail"]
    assert _count(rt, Event) == 0
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200


def test_single_event_and_batch_accepted_with_duplicates(client, rt) -> None:
    one = client.post("/v1/events", json=event("e-0", "email_open", at=T0, campaign="Q4"))
    assert one.status_code == 202
    assert one.json()["accepted"] == 1
    lead_id = one.json()["leads"][0]["lead_id"]
    assert one.json()["leads"] == [{"lead_id": lead_id, "email": "ada@acme.io"}]

    batch = hand_raise() + [event("e-0", "email_open", at=T0)] + [hand_raise()[0]]
    response = client.post("/v1/events", json={"events": batch})
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 2,
                               "leads": [{"lead_id": lead_id, "email": "ada@acme.io"}]}
    assert _count(rt, Event) == 4
    assert _count(rt, Lead) == 1


def test_duplicate_changes_nothing(client, rt) -> None:
    client.post("/v1/events", json=event("e-1", "page_view", at=T0, url="https://x/pricing"))
    renamed = dict(LEAD_ADA, company="Evil Corp", title="Intern")
    again = client.post("/v1/events", json=event("e-1", "page_view", at=T0, lead=renamed,
                                                 url="https://x/pricing"))
    assert again.json()["duplicates"] == 1 and again.json()["accepted"] == 0
    with rt.db.session() as s:
        lead = s.scalars(select(Lead)).one()
        assert (lead.company, lead.title) == ("Acme", "VP Operations")


BAD_EVENTS = [
    ({"type": "page_click"}, "type"),
    ({"occurred_at": "2026-11-20T14:03:00"}, "occurred_at"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"event_id": ""}, "event_id"),
    ({"lead": {"email": "not-an-email"}}, "lead.email"),
    ({"lead": {"email": "a@b.io", "country": "USA"}}, "lead.country"),
    ({"lead": {"email": "a@b.io", "timezone": "Mars/Olympus"}}, "lead.timezone"),
    ({"lead": {"email": "a@b.io", "employees": -3}}, "lead.employees"),
    ({"type": "form_submit", "properties": {"form": "wishlist"}}, "properties"),
    ({"type": "form_submit", "properties": {}}, "properties"),
    ({"type": "page_view", "properties": {}}, "properties"),
    ({"type": "support_ticket", "properties": {"subject": "x", "sentiment": -3,
                                               "status": "open"}}, "properties"),
    ({"type": "consent", "properties": {"email_opt_in": "yes"}}, "properties"),
    ({"type": "product_usage", "properties": {"metric": "seats", "change_pct": "lots"}},
     "properties"),
    ({"type": "inbound_reply", "properties": {}}, "properties"),
    ({"type": "event_attended", "properties": {}}, "properties"),
]


@pytest.mark.parametrize(("change", "field"), BAD_EVENTS)
def test_each_invalid_field_is_named_and_nothing_is_stored(client, rt, change, field) -> None:
    good = event("ok-1", "page_view", at=T0, url="https://x/pricing")
    bad = dict(event("bad-1", "page_view", at=T0, url="https://x/pricing"), **change)
    response = client.post("/v1/events", json={"events": [good, bad]})
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f.startswith(f"events.1.{field}") for f in fields), fields
    assert response.json()["detail"].startswith("invalid request")
    assert _count(rt, Event) == 0 and _count(rt, Lead) == 0


def test_batch_limits(client, rt) -> None:
    too_many = [event(f"e-{i}", "email_open", at=T0) for i in range(1001)]
    response = client.post("/v1/events", json={"events": too_many})
    assert response.status_code == 422
    assert "at most 1000" in response.json()["errors"][0]["message"]
    empty = client.post("/v1/events", json={"events": []})
    assert empty.status_code == 422
    not_json = client.post("/v1/events", content=b"{oops",
                           headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422
    assert _count(rt, Event) == 0


def test_thousand_events_in_one_batch(client, rt) -> None:
    batch = [event(f"e-{i}", "page_view", at=T0 - timedelta(minutes=i),
                   lead=dict(LEAD_ADA, email=f"p{i % 50}@acme.io"), url="https://x/blog")
             for i in range(1000)]
    response = client.post("/v1/events", json={"events": batch})
    assert response.status_code == 202
    assert response.json()["accepted"] == 1000 and len(response.json()["leads"]) == 50
    assert _count(rt, Event) == 1000


def test_accepted_events_survive_a_restart_and_are_processed(settings, clock, content_library) -> None:
    """Accept in one runtime, 'crash' before processing, process in a fresh one."""
    from hitl.wiring import build_runtime
    from service.ingest import ingest_events
    from service.schemas import EventIn
    from service.worker import Worker

    first = build_runtime(settings, clock=clock, library_override=content_library)
    first.db.upgrade()
    result = ingest_events(first, [EventIn.model_validate(e) for e in hand_raise()])
    first.close()  # no worker ever ran in this process

    second = build_runtime(settings, clock=clock, library_override=content_library)
    worker = Worker(second, threads=2)
    worker.run_until_idle()
    worker.stop()
    from service.leads import get_lead

    lead = get_lead(second, result.leads[0]["lead_id"])
    assert lead["route"] == "hand_raise" and lead["stage"] == "assigned"
    assert lead["owner"] == "U0REP0001"
    second.close()


def test_new_leads_with_different_fields_in_one_batch(client, rt) -> None:
    """Regression: a batch whose new leads carry different profile fields used to 500."""
    sparse = {"email": "bo@beta.io"}
    rich = dict(LEAD_ADA, email="cy@gamma.io")
    response = client.post("/v1/events", json={"events": [
        event("m-1", "email_open", at=T0, lead=sparse), event("m-2", "email_open", at=T0, lead=rich)]})
    assert response.status_code == 202 and response.json()["accepted"] == 2
    with rt.db.session() as s:
        leads = {lead.email: lead for lead in s.scalars(select(Lead))}
    assert leads["cy@gamma.io"].employees == 850 and leads["bo@beta.io"].employees is None


def test_a_leads_fields_are_stored_on_one_line(client, rt) -> None:
    """A CRM field with line breaks or control characters ("VP Sales\\nEMEA") is kept as one
    line: no record can start a line of its own in a card, a DM or a log."""
    lead = dict(LEAD_ADA, email="dee@delta.io", first_name=" Dee\r\n", last_name="Lo\u2028Ng",
                company="Delta\n:+1: Approved by your manager", title="VP Sales\nEMEA\x1b[31m")
    response = client.post("/v1/events", json=event("o-1", "email_open", at=T0, lead=lead))
    assert response.status_code == 202
    with rt.db.session() as s:
        stored = s.scalars(select(Lead).where(Lead.email == "dee@delta.io")).one()
    assert (stored.first_name, stored.last_name, stored.company, stored.title) == (
        "Dee", "Lo Ng", "Delta :+1: Approved by your manager", "VP Sales EMEA[31m")
