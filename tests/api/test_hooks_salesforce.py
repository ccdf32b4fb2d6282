"""POST /hooks/salesforce: a recorded outbound message becomes a lead and a demo request, stored
before the SOAP Ack; a wrong key or organisation stores nothing; Salesforce's retries of the
same notification make one event; entity tricks are refused unparsed."""

from __future__ import annotations

from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from sqlalchemy import select

from store.tables import Event, Lead
from tests.api.crm_hooks import (
    SF_KEY,
    fixture_bytes,
    settings,  # noqa: F401 (the fixture: every hook on)
)
from tools.crm.salesforce_soap import OUTBOUND, SOAP_ENV

MESSAGE = fixture_bytes("salesforce_outbound_lead.xml")
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
                "Authorization": ""}


def _post(client: Any, body: bytes = MESSAGE, key: str | None = SF_KEY) -> Any:
    params = {"key": key} if key is not None else {}
    return client.post("/hooks/salesforce", params=params, content=body, headers=SOAP_HEADERS)


def _rows(rt: Any, table: Any) -> list[Any]:
    with rt.db.session() as s:
        return list(s.scalars(select(table)))


def _acked(response: Any) -> bool:
    root = fromstring(response.content)
    ack = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND}}}notificationsResponse/{{{OUTBOUND}}}Ack")
    return response.headers["content-type"].startswith("text/xml") and ack is not None \
        and ack.text == "true"


def test_outbound_message_is_stored_then_acked(client: Any, rt: Any) -> None:
    response = _post(client)
    assert response.status_code == 200, response.text
    assert _acked(response)
    [lead] = _rows(rt, Lead)  # the Contact with a nil Email is no lead
    assert (lead.email, lead.first_name, lead.last_name, lead.company, lead.title) == (
        "priya.shah@brightlane.io", "Priya", "Shah", "Brightlane Software",
        "Head of Revenue Operations")
    assert (lead.country, lead.employees, lead.industry) == ("GB", 850, "Software")
    [event] = _rows(rt, Event)
    assert (event.event_id, event.type, event.lead_id) == (
        "salesforce:04l5g00000HVEMpQAP", "form_submit", lead.id)
    assert event.properties["form"] == "demo"  # LeadSource "Web - Demo Request"
    assert event.properties["source"] == "salesforce"


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_retries_of_the_same_notification_make_one_event(client: Any, rt: Any) -> None:
    for _ in range(3):  # Salesforce retries for 24 hours until it gets Ack true
        response = _post(client)
        assert response.status_code == 200 and _acked(response)
    assert len(_rows(rt, Event)) == 1 and len(_rows(rt, Lead)) == 1


@pytest.mark.parametrize("key", [None, "", "wrong-key", SF_KEY + "x"])
def test_wrong_key_is_401_before_the_body_is_read(client: Any, rt: Any, key: Any) -> None:
    response = _post(client, b"<not-even-xml", key=key)
    assert response.status_code == 401 and "key" in response.json()["detail"]
    assert _rows(rt, Lead) == [] and _rows(rt, Event) == []


def test_other_organisation_is_401_and_stores_nothing(client: Any, rt: Any) -> None:
    body = MESSAGE.replace(b"00D5g000004Fq2xEAC", b"00D5g000009ZZZZEAC")
    response = _post(client, body)
    assert response.status_code == 401 and "OrganizationId" in response.json()["detail"]
    assert _rows(rt, Lead) == [] and _rows(rt, Event) == []


def test_fifteen_character_org_id_matches(client: Any, rt: Any) -> None:
    body = MESSAGE.replace(b"00D5g000004Fq2xEAC", b"00D5g000004Fq2x")
    assert _post(client, body).status_code == 200
    assert len(_rows(rt, Event)) == 1


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>00D5g000004Fq2xEAC</OrganizationId><Notification><Id>04l5g00000HVEMpQAP</Id>
<sObject><Email>&lol2;@x.io</Email></sObject></Notification></notifications>
</soapenv:Body></soapenv:Envelope>"""

EXTERNAL_ENTITY = BILLION_LAUGHS.replace(
    b'<!ENTITY lol "lol">', b'<!ENTITY lol SYSTEM "file:///etc/passwd">')


@pytest.mark.parametrize(("body", "expected"), [
    (BILLION_LAUGHS, "DTD"), (EXTERNAL_ENTITY, "DTD"),
    (b"<a>unclosed", "not a readable SOAP document"),
    (b"<Envelope/>", "not a SOAP 1.1 Envelope"),
    (MESSAGE.replace(b"<Notification>", b"<Other>").replace(b"</Notification>", b"</Other>"),
     "1 to 100 Notification"),
])
def test_hostile_or_malformed_xml_is_refused(client: Any, rt: Any, body: bytes,
                                             expected: str) -> None:
    response = _post(client, body)
    assert response.status_code == 422 and expected in response.json()["detail"]
    assert _rows(rt, Lead) == []


def test_more_than_100_notifications_refused(client: Any, rt: Any) -> None:
    start = MESSAGE.index(b"<Notification>")
    end = MESSAGE.index(b"</Notification>") + len(b"</Notification>")
    one = MESSAGE[start:end]
    body = MESSAGE[:start] + one * 101 + MESSAGE[end:]
    response = _post(client, body)
    assert response.status_code == 422 and "got 102" in response.json()["detail"]
