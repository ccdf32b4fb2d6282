"""The CRM hooks whose deliveries carry the facts themselves: Salesforce outbound messages and
Segment calls, stored before the answer (see service/crm_inbound.py for the shared rules)."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from service.crm_events import event_from, lead_from, path_lookup
from service.crm_identities import emails_for, identities_of, remember
from service.crm_inbound import HookOff, Unauthorized, mapping_of, parse_json, store, summary
from service.errors import InvalidInput
from service.runtime import AppRuntime
from service.schemas import MAX_BATCH, EventIn, LeadIn, utc_datetime
from tools.crm.salesforce_soap import SoapError, parse_outbound_message, same_organization

SEGMENT_CALLS = ("track", "identify")


def _when(value: Any, default: datetime) -> datetime:
    """A vendor's ISO 8601 time, or `default` when absent or unusable."""
    if not isinstance(value, str) or not value.strip():
        return default
    try:
        return utc_datetime(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return default


# -- Salesforce --------------------------------------------------------------------------------

def verify_salesforce_key(rt: AppRuntime, key: str | None) -> None:
    """401 unless `?key=` is SALESFORCE_HOOK_KEY (before the body is parsed); 404 while off."""
    settings = rt.settings
    if not settings.salesforce_org_id or not settings.salesforce_hook_key:
        raise HookOff("the Salesforce hook is off: set SALESFORCE_ORG_ID and "
                      "SALESFORCE_HOOK_KEY to turn it on")
    if not key or not hmac.compare_digest(key.encode(), settings.salesforce_hook_key.encode()):
        raise Unauthorized("missing or wrong hook key (?key=$SALESFORCE_HOOK_KEY in the "
                           "outbound message's endpoint URL)")


def accept_salesforce(rt: AppRuntime, body: bytes) -> dict[str, Any]:
    """Store every notification of a keyed message from our org; the caller acks after."""
    try:
        message = parse_outbound_message(body)
    except SoapError as exc:
        raise InvalidInput(f"not a Salesforce outbound message: {exc}", field="body") from None
    if not same_organization(message.organization_id, rt.settings.salesforce_org_id or ""):
        raise Unauthorized("OrganizationId does not match SALESFORCE_ORG_ID")
    mapping = mapping_of(rt)
    now = rt.clock.now()
    events: list[EventIn] = []
    facts: list[LeadIn] = []
    skipped = 0
    for note in message.notifications:
        lookup = path_lookup(dict(note.fields))
        lead = lead_from(mapping, mapping.salesforce.lead_fields, lookup)
        if lead is None:
            skipped += 1
            continue
        rule = mapping.salesforce.rule_for(note.object_type, note.fields)
        if rule is None:
            facts.append(lead)
            continue
        at = _when(note.fields.get("LastModifiedDate") or note.fields.get("CreatedDate"), now)
        try:
            events.append(event_from(mapping, rule, event_id=f"salesforce:{note.id}",
                                     occurred_at=at, lead=lead, lookup=lookup,
                                     source="salesforce"))
        except ValidationError:
            facts.append(lead)
    result = store(rt, events, facts)
    return summary(result, leads_only=len(facts), skipped=skipped,
                   notifications=len(message.notifications))


# -- Segment -----------------------------------------------------------------------------------

def accept_segment(rt: AppRuntime, body: bytes) -> dict[str, Any]:
    """A `track` / `identify` call, or `{"batch": [...]}` of them; other calls are ignored.
    A call whose person we cannot find (no email in identify's traits, the context's traits or
    the properties, and no userId / anonymousId seen with one) is skipped and counted."""
    raw = parse_json(body)
    if not isinstance(raw, dict):
        raise InvalidInput("a Segment call is a JSON object", field="body")
    calls = raw.get("batch", [raw]) if "batch" in raw else [raw]
    if not isinstance(calls, list) or not 1 <= len(calls) <= MAX_BATCH:
        raise InvalidInput(f"batch holds 1 to {MAX_BATCH} calls", field="batch")
    mapping = mapping_of(rt)
    now = rt.clock.now()
    # First who each call is: its own email, else an id (userId, anonymousId) named with one,
    # earlier in this batch or in an earlier call.
    named: list[tuple[str, dict[str, Any], LeadIn | None, list[str]]] = []
    known: dict[str, str] = {}
    ignored = 0
    for index, call in enumerate(calls):
        where = f"batch.{index}" if "batch" in raw else "body"
        if not isinstance(call, dict):
            raise InvalidInput(f"{where} must be an object", field=where)
        if call.get("type") not in SEGMENT_CALLS:
            ignored += 1
            continue
        message_id = call.get("messageId")
        if not isinstance(message_id, str) or not 1 <= len(message_id) <= 180:
            raise InvalidInput(f"{where}.messageId is required (1 to 180 characters)",
                               field=f"{where}.messageId")
        lead = lead_from(mapping, mapping.segment.lead_fields, path_lookup(call))
        ids = identities_of(call)
        if lead is not None:
            known.update(dict.fromkeys(ids, lead.email))
        named.append((where, call, lead, ids))
    stored = emails_for(rt, "segment", {i for _, _, lead, ids in named if lead is None
                                        for i in ids if i not in known})

    events: list[EventIn] = []
    facts: list[LeadIn] = []
    skipped = 0
    for where, call, lead, ids in named:
        if lead is None:
            email = next((known.get(i) or stored[i] for i in ids if i in known or i in stored),
                         None)
            if email is None:
                skipped += 1
                continue
            lead = LeadIn.model_validate({"email": email})
        name = call.get("event")
        rule = mapping.segment.rule_for(name) \
            if call["type"] == "track" and isinstance(name, str) else None
        if rule is None:
            facts.append(lead)
            continue
        at = _when(call.get("timestamp") or call.get("originalTimestamp"), now)
        try:
            events.append(event_from(mapping, rule, event_id=f"segment:{call['messageId']}",
                                     occurred_at=at, lead=lead, lookup=path_lookup(call),
                                     source="segment"))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InvalidInput(f"{where}: {err['msg'].removeprefix('Value error, ')}",
                               field=where) from None
    result = store(rt, events, facts)
    remember(rt, "segment", known)
    return {"success": True, **summary(result, leads_only=len(facts), skipped=skipped,
                                       ignored=ignored)}
