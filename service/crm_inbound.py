"""Leads arriving from the CRMs (issue 16): HubSpot webhooks, Salesforce outbound messages,
Segment calls. Each hook authenticates on the raw bytes before anything parses them, maps the
vendor's record into our `LeadIn` / `EventIn` by the mapping file (service/crm_events.py) and
stores through the same path as `POST /v1/events` (service/ingest.py), which qualifies in the
worker.

Deduplication rides on our event ids, derived from what each vendor guarantees: HubSpot's
`eventId` is not unique, so the id hashes portal, subscription type, object, time and property
change (the same change redelivered, whatever its attemptNumber, is one event); Salesforce's
notification `Id` stays the same across its 24 hours of retries; Segment's `messageId` is the
call's. A redelivery therefore stores nothing new.

HubSpot's deliveries carry ids, not facts: the hook stores the delivery as a queued job and
answers at once; the job (`crm_hubspot_deliveries`) reads the contacts through the CRM API and
maps them. A rate limit or an outage is a RetryLater (no sooner than Retry-After), retried for
HITL_INTEGRATION_RETRY_HOURS, then parked and listed with the other stuck work.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.crm_events import event_from, lead_from, load_checked_mapping, path_lookup
from service.crm_identities import HUBSPOT_DELIVERIES_JOB, lead_ids_for, remember
from service.erasure import erase_lead
from service.errors import InvalidInput, NotFound, ServiceError
from service.ingest import IngestResult, _upsert_leads, ingest_events
from service.jobs import RetryLater, enqueue
from service.runtime import AppRuntime
from service.schemas import EventIn, LeadIn
from tools.crm.hubspot_api import HubSpotApiError, signature_matches
from tools.crm.mapping import CrmMapping

HUBSPOT_JOB = HUBSPOT_DELIVERIES_JOB
HUBSPOT_MAX_AGE = timedelta(minutes=5)
MAX_DELIVERIES = 1000
_CONTACT_OBJECT = "0-1"  # generic webhooks (object.*) name contacts by objectTypeId
_PRIVACY = "contact.privacyDeletion"
_DELETIONS = ("contact.deletion", _PRIVACY, "object.deletion")


class Unauthorized(ServiceError):
    status = 401


class HookOff(ServiceError):
    """The hook's secret is not set: the hook answers 404 saying which setting turns it on
    (not a 5xx: nothing is wrong with the server, the hook is simply not there yet)."""

    status = 404


def mapping_of(rt: AppRuntime) -> CrmMapping:
    if rt.crm_mapping is None:  # a runtime built by hand (tests): the configured file
        rt.crm_mapping = load_checked_mapping(rt.settings.crm_file)
    return rt.crm_mapping


def store(rt: AppRuntime, events: list[EventIn], facts: list[LeadIn]) -> IngestResult:
    """Events through the ingestion path; a record with no event of ours still refreshes its
    lead's facts (created if new), so the next event finds them."""
    result = ingest_events(rt, events) if events else IngestResult()
    with_event = {e.lead.email for e in events}
    facts = [lead for lead in facts if lead.email not in with_event]
    if facts:
        with rt.db.session() as session:
            _upsert_leads(session, facts, rt.clock.now())
    return result


def summary(result: IngestResult, *, leads_only: int, skipped: int,
            **extra: Any) -> dict[str, Any]:
    return {"accepted": result.accepted, "duplicates": result.duplicates,
            "leads_updated": leads_only, "skipped": skipped, **extra}


# -- HubSpot -----------------------------------------------------------------------------------

class HubSpotDelivery(BaseModel):
    """One element of a v3 delivery; the fields we use, bounded (others are dropped)."""

    model_config = ConfigDict(extra="ignore")

    subscriptionType: str = Field(min_length=1, max_length=100)  # noqa: N815 (HubSpot's names)
    objectId: int = Field(ge=0)  # noqa: N815
    occurredAt: int = Field(ge=0, le=7_258_118_400_000)  # noqa: N815 (ms, before 2200)
    portalId: int | None = None  # noqa: N815
    eventId: int | None = None  # noqa: N815
    attemptNumber: int | None = None  # noqa: N815
    objectTypeId: str | None = Field(None, max_length=20)  # noqa: N815
    propertyName: str | None = Field(None, max_length=200)  # noqa: N815
    propertyValue: str | None = Field(None, max_length=65_536)  # noqa: N815
    changeSource: str | None = Field(None, max_length=100)  # noqa: N815

    def is_contact(self) -> bool:
        if self.subscriptionType.startswith("contact."):
            return True
        return self.subscriptionType.startswith("object.") and self.objectTypeId == _CONTACT_OBJECT

    def as_contact_event(self) -> dict[str, Any]:
        """The delivery as the mapping's rules name it: a generic `object.propertyChange` on a
        contact (objectTypeId 0-1) matches the rules written for `contact.propertyChange`."""
        data = self.model_dump()
        if self.subscriptionType.startswith("object.") and self.objectTypeId == _CONTACT_OBJECT:
            data["subscriptionType"] = "contact." + self.subscriptionType.removeprefix("object.")
        return data

    def dedupe_key(self) -> str:
        """What identifies the change itself (not this attempt): eventId is not unique."""
        parts = [self.portalId, self.subscriptionType, self.objectTypeId, self.objectId,
                 self.occurredAt, self.propertyName, self.propertyValue]
        digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:40]
        return f"hubspot:{digest}"


def verify_hubspot(rt: AppRuntime, *, method: str, uris: list[str], body: bytes,
                   signature: str | None, timestamp: str | None) -> None:
    """401 unless the v3 signature over method + URI + body + timestamp matches and the
    timestamp is within five minutes of our clock; 404 while the hook is off."""
    settings = rt.settings
    if not settings.hubspot_client_secret or not settings.hubspot_access_token:
        raise HookOff("the HubSpot hook is off: set HUBSPOT_CLIENT_SECRET (the app's client "
                      "secret) and HUBSPOT_ACCESS_TOKEN (to read contacts) to turn it on")
    if not signature or not timestamp:
        raise Unauthorized("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 15:
        raise Unauthorized("X-HubSpot-Request-Timestamp must be milliseconds since the epoch")
    # Compared in milliseconds: a far-future value is refused like an old one, not a datetime
    # out of range.
    now_ms = int(rt.clock.now().timestamp() * 1000)
    if abs(now_ms - int(timestamp)) > HUBSPOT_MAX_AGE / timedelta(milliseconds=1):
        raise Unauthorized("X-HubSpot-Request-Timestamp is more than 5 minutes from our clock: "
                           "refused (a replayed or delayed request)")
    if not signature_matches(settings.hubspot_client_secret, signature, method=method,
                             uris=uris, body=body, timestamp=timestamp):
        raise Unauthorized("X-HubSpot-Signature-v3 does not match this request "
                           "(HUBSPOT_CLIENT_SECRET, or HITL_PUBLIC_URL differs from the "
                           "webhook's target URL)")


def parse_json(body: bytes) -> Any:
    """A hook's body as JSON, or a 422 naming what is wrong with it (nothing stored)."""
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"body is not JSON: {exc}", field="body") from None
    except RecursionError:
        raise InvalidInput("body is not JSON we accept: nested too deeply",
                           field="body") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise InvalidInput(f"body is not JSON we accept: {exc}", field="body") from None
    # (Strict JSON has no raw control character in a string: only the escape can carry one.)
    if b"\\u0000" in body.lower() and _holds_nul(parsed):
        raise InvalidInput("body holds a NUL character (U+0000), which cannot be stored",
                           field="body")
    return parsed


def _holds_nul(value: Any) -> bool:
    """Whether a NUL character is in any string (or key) of a parsed JSON value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def accept_hubspot(rt: AppRuntime, body: bytes) -> dict[str, Any]:
    """Store a verified delivery as a queued job; answer before any CRM call."""
    raw = parse_json(body)
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_DELIVERIES:
        raise InvalidInput(f"a HubSpot delivery is a JSON array of 1 to {MAX_DELIVERIES} "
                           "events", field="body")
    deliveries: list[HubSpotDelivery] = []
    for index, item in enumerate(raw):
        try:
            deliveries.append(HubSpotDelivery.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in (index, *err["loc"]))
            raise InvalidInput(f"{where}: {err['msg']}", field=where) from None
    contacts = {d.dedupe_key(): d for d in deliveries if d.is_contact()}
    ignored = len(deliveries) - len(contacts)
    if contacts:
        key = hashlib.sha256("".join(sorted(contacts)).encode()).hexdigest()[:40]
        with rt.db.session() as session:
            enqueue(session, HUBSPOT_JOB,
                    {"deliveries": [d.model_dump(exclude_none=True) for d in contacts.values()]},
                    now=rt.clock.now(), dedupe_key=f"{HUBSPOT_JOB}:{key}")
        rt.notify_work()
    return {"queued": len(contacts), "ignored": ignored}


def hubspot_deliveries_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """Read the delivered contacts from the CRM API, map them, store through ingestion."""
    mapping = mapping_of(rt)
    deliveries = [HubSpotDelivery.model_validate(d) for d in payload["deliveries"]]
    _erase_privacy_deletions(rt, [d for d in deliveries if d.subscriptionType == _PRIVACY])
    live = [d for d in deliveries if d.subscriptionType not in _DELETIONS]
    if not live:
        return
    try:
        contacts = rt.hubspot_contacts.read([str(d.objectId) for d in live],
                                             mapping.hubspot.contact_properties())
    except HubSpotApiError as exc:
        if exc.transient:
            raise RetryLater(str(exc), retry_after=exc.retry_after) from exc
        raise
    events: list[EventIn] = []
    facts: list[LeadIn] = []
    seen: dict[str, str] = {}
    for delivery in live:
        props = contacts.get(str(delivery.objectId))
        if props is None:
            continue  # deleted or merged away since: nothing to qualify
        record = dict(props)
        if delivery.propertyName:  # the delivery's value is newer than a cached read
            record[delivery.propertyName] = delivery.propertyValue
        lead = lead_from(mapping, mapping.hubspot.lead_fields, path_lookup(record))
        if lead is None:
            continue
        seen[f"contact:{delivery.objectId}"] = lead.email
        rule = mapping.hubspot.rule_for(delivery.as_contact_event())
        if rule is None:
            facts.append(lead)
            continue
        try:
            events.append(event_from(
                mapping, rule, event_id=delivery.dedupe_key(), lead=lead, source="hubspot",
                occurred_at=datetime.fromtimestamp(delivery.occurredAt / 1000, UTC),
                lookup=path_lookup({**record, **delivery.model_dump(exclude_none=True)})))
        except ValidationError:
            facts.append(lead)
    store(rt, events, facts)
    remember(rt, "hubspot", seen)


def _erase_privacy_deletions(rt: AppRuntime, deliveries: list[HubSpotDelivery]) -> None:
    """A GDPR deletion in HubSpot erases the lead its contact became here, as
    `DELETE /v1/leads/{id}` would (audited as made by HubSpot)."""
    ids = lead_ids_for(rt, "hubspot", [f"contact:{d.objectId}" for d in deliveries])
    for lead_id in sorted(set(ids.values())):
        # NotFound: erased already (a redelivery, or the person's own request first).
        with contextlib.suppress(NotFound):
            erase_lead(rt, lead_id, actor="hubspot:contact.privacyDeletion")


# -- Segment -----------------------------------------------------------------------------------

def verify_segment(rt: AppRuntime, authorization: str | None) -> None:
    """401 unless HTTP Basic auth names SEGMENT_WRITE_KEY as the user (Segment's HTTP API
    convention: the write key, an empty password); 404 while the hook is off."""
    key = rt.settings.segment_write_key
    if not key:
        raise HookOff("the Segment hook is off: set SEGMENT_WRITE_KEY to turn it on")
    scheme, _, encoded = (authorization or "").partition(" ")
    try:
        user = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")[0]
    except (ValueError, UnicodeDecodeError):  # binascii.Error, or characters beyond ASCII
        user = ""
    if scheme.lower() != "basic" or not hmac.compare_digest(user.encode(), key.encode()):
        raise Unauthorized("missing or wrong write key (Authorization: Basic base64 of "
                           "'$SEGMENT_WRITE_KEY:')")
