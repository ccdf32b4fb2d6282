"""Salesforce outbound messages: the SOAP `notifications()` call and its acknowledgement.

Shape (Salesforce SOAP API Developer Guide, "Understanding the Outbound Messaging WSDL"):
`soapenv:Envelope/soapenv:Body/notifications` in namespace http://soap.sforce.com/2005/09/outbound,
holding `OrganizationId`, `ActionId`, `SessionId`, `EnterpriseUrl`, `PartnerUrl` and 1-100
`Notification` elements, each an `Id` (the notification's, the same on every retry) and an
`sObject` whose `xsi:type` names the object (`sf:Lead`) and whose children (namespace
urn:sobject.enterprise.soap.sforce.com) are the fields the admin chose. The listener answers
`notificationsResponse/Ack` true once it has the notifications; otherwise Salesforce retries
(for up to 24 hours).

Parsed with defusedxml: a document with a DTD or entity declarations is refused, so nothing
from outside can expand entities or reach files.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
MAX_FIELDS = 500
MAX_FIELD_CHARS = 32_000

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    " <soapenv:Body>\n"
    '  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">\n'
    "   <Ack>true</Ack>\n"
    "  </notificationsResponse>\n"
    " </soapenv:Body>\n"
    "</soapenv:Envelope>\n"
)


class SoapError(ValueError):
    """Not an outbound message we can read; the message says where."""


@dataclass(frozen=True)
class Notification:
    id: str
    object_type: str  # "Lead", "Contact", ... (the sObject's xsi:type without its prefix)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str | None
    notifications: list[Notification]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: Element | None) -> str | None:
    if element is None or element.get(f"{{{XSI}}}nil") == "true":
        return None
    return (element.text or "").strip() or None


def _notification(element: Element, index: int) -> Notification:
    note_id = _text(element.find(f"{{{OUTBOUND}}}Id"))
    sobject = element.find(f"{{{OUTBOUND}}}sObject")
    if not note_id or len(note_id) > 18:
        raise SoapError(f"Notification[{index}].Id is missing or not a Salesforce id")
    if sobject is None:
        raise SoapError(f"Notification[{index}].sObject is missing")
    object_type = (sobject.get(f"{{{XSI}}}type") or "").rsplit(":", 1)[-1] or "sObject"
    fields: dict[str, str] = {}
    for child in list(sobject)[:MAX_FIELDS]:
        value = _text(child)
        if value is not None:
            fields[_local(child.tag)] = value[:MAX_FIELD_CHARS]
    return Notification(id=note_id, object_type=object_type, fields=fields)


def parse_outbound_message(body: bytes) -> OutboundMessage:
    """The message's organisation and notifications; SoapError when it is not one."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException) as exc:
        raise SoapError(f"not a readable SOAP document ({type(exc).__name__}: {exc})") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapError("not a SOAP 1.1 Envelope")
    notifications = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND}}}notifications")
    if notifications is None:
        raise SoapError(f"Body holds no notifications element in namespace {OUTBOUND}")
    org = _text(notifications.find(f"{{{OUTBOUND}}}OrganizationId"))
    if not org:
        raise SoapError("OrganizationId is missing")
    elements = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if not 1 <= len(elements) <= MAX_NOTIFICATIONS:
        raise SoapError(f"a message carries 1 to {MAX_NOTIFICATIONS} Notification elements, "
                        f"got {len(elements)}")
    return OutboundMessage(
        organization_id=org,
        action_id=_text(notifications.find(f"{{{OUTBOUND}}}ActionId")),
        notifications=[_notification(e, i) for i, e in enumerate(elements)],
    )


def same_organization(given: str, expected: str) -> bool:
    """Org ids compare on their case-sensitive 15-character form (18-character ids add a
    checksum suffix); SALESFORCE_ORG_ID may be either."""
    return len(given) in (15, 18) and len(expected) in (15, 18) and hmac.compare_digest(
        given[:15].encode(), expected[:15].encode())
