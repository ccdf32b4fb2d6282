"""A team's first day: every HubSpot contact becomes a lead, and what HubSpot already knows of
it (the last form conversion, a booked meeting, an opt-out) becomes our events, through the same
mapping (HITL_CRM_FILE) and the same ingestion path as the webhook (service/crm_inbound.py).

Each contact's mapped properties are read as if HubSpot had just delivered a
`contact.propertyChange` for each of them, so the mapping's event rules decide what counts,
dated by HubSpot's own timestamp for it (`recent_conversion_date` for a conversion, the value
itself for a date property, else the contact's last modification). Event ids are derived from
the contact, the property and that time: running the backfill again stores nothing twice. Old
signals qualify the lead but fall outside the hand-raise window, so a backfill fills the
pipeline's memory without flooding reps with cards. Each page is stored in its own transaction;
a run that stops names the cursor to resume from (`--after`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from service.crm_events import event_from, lead_from, path_lookup
from service.crm_identities import remember
from service.crm_inbound import mapping_of, store
from service.errors import InvalidInput
from service.runtime import AppRuntime
from service.schemas import EventIn, LeadIn
from tools.crm.mapping import CrmMapping

SOURCE = "hubspot_backfill"
# A property whose change is an event, and the property that dates it.
DATED_BY = {"recent_conversion_event_name": "recent_conversion_date"}
ALWAYS_READ = ("recent_conversion_date", "lastmodifieddate")


@dataclass
class BackfillResult:
    pages: int = 0
    contacts: int = 0
    leads: int = 0
    skipped: int = 0  # no usable email
    accepted: int = 0
    duplicates: int = 0
    next_after: str | None = None  # where a stopped run resumes; None when complete
    lead_ids: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "lead_ids"}


def _time(value: Any) -> datetime | None:
    """HubSpot writes datetimes as ISO 8601 (v3) or epoch milliseconds (older properties)."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def event_properties(mapping: CrmMapping) -> list[str]:
    """The contact properties the mapping's event rules test, in rule order."""
    return list(dict.fromkeys(r.property for r in mapping.hubspot.events
                              if r.subscription == "contact.propertyChange" and r.property))


def contact_records(mapping: CrmMapping, contact: dict[str, Any]
                    ) -> tuple[LeadIn | None, list[EventIn]]:
    """A listed contact -> our lead (None without a usable email) and its events."""
    props = dict(contact.get("properties") or {})
    lookup = path_lookup(props)
    lead = lead_from(mapping, mapping.hubspot.lead_fields, lookup)
    if lead is None:
        return None, []
    modified = _time(props.get("lastmodifieddate")) or _time(contact.get("updatedAt"))
    events: list[EventIn] = []
    for name in event_properties(mapping):
        value = props.get(name)
        if value in (None, ""):
            continue
        delivery = {"subscriptionType": "contact.propertyChange", "propertyName": name,
                    "propertyValue": value, "objectId": contact.get("id")}
        rule = mapping.hubspot.rule_for(delivery)
        at = _time(props.get(DATED_BY[name])) if name in DATED_BY else _time(value)
        at = at or modified
        if rule is None or at is None:
            continue
        event_id = f"hubspot-backfill:{contact.get('id')}:{name}:{int(at.timestamp() * 1000)}"
        try:
            events.append(event_from(mapping, rule, event_id=event_id, occurred_at=at,
                                     lead=lead, lookup=path_lookup({**props, **delivery}),
                                     source=SOURCE))
        except ValidationError:
            continue  # the lead's facts are still stored
    return lead, events


def backfill_hubspot(rt: AppRuntime, *, after: str | None = None, page_size: int = 100,
                     max_pages: int | None = None, pages: Any = None) -> BackfillResult:
    """Page through HubSpot's contacts from `after`, storing each page as it comes.

    Raises InvalidInput when HUBSPOT_ACCESS_TOKEN is not set; a HubSpot failure that outlasts
    the reader's waits propagates (tools.crm.writer.CrmError) with `result.next_after` the
    cursor to resume from, which the caller reads from the exception's `backfill` attribute."""
    settings = rt.settings
    if pages is None:
        if not settings.hubspot_access_token:
            raise InvalidInput("HUBSPOT_ACCESS_TOKEN is not set: the backfill reads the "
                               "HubSpot CRM API with it", field="HUBSPOT_ACCESS_TOKEN")
        from tools.crm.hubspot_backfill import HubSpotContactPages

        pages = HubSpotContactPages(settings.hubspot_api_url, settings.hubspot_access_token)
    mapping = mapping_of(rt)
    properties = sorted({*mapping.hubspot.contact_properties(), *ALWAYS_READ})
    result = BackfillResult(next_after=after, lead_ids=[])
    try:
        for page in pages.pages(properties, after=after, limit=page_size):
            _store_page(rt, mapping, page.contacts, result)
            result.pages += 1
            result.next_after = page.next_after
            if max_pages is not None and result.pages >= max_pages:
                break
    except Exception as exc:
        exc.backfill = result  # type: ignore[attr-defined]
        raise
    return result


def _store_page(rt: AppRuntime, mapping: CrmMapping, contacts: list[dict[str, Any]],
                result: BackfillResult) -> None:
    events: list[EventIn] = []
    facts: list[LeadIn] = []
    seen: dict[str, str] = {}
    for contact in contacts:
        result.contacts += 1
        lead, found = contact_records(mapping, contact)
        if lead is None:
            result.skipped += 1
            continue
        result.leads += 1
        seen[f"contact:{contact.get('id')}"] = lead.email
        events.extend(found)
        if not found:
            facts.append(lead)
    stored = store(rt, events, facts)
    # As the webhook does: HubSpot's contact id -> the lead, so a later privacy deletion in
    # HubSpot erases a backfilled lead too (service/crm_inbound.py).
    remember(rt, "hubspot", seen)
    result.accepted += stored.accepted
    result.duplicates += stored.duplicates
    assert result.lead_ids is not None
    result.lead_ids.extend(ref["lead_id"] for ref in stored.leads)
