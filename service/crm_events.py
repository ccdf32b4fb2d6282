"""Vendor records -> our `LeadIn` / `EventIn`, by the mapping file (tools/crm/mapping.py).

Pure functions, shared by the three inbound connectors (service/crm_inbound.py) and the runtime's
start-up check. A CRM holds whatever people typed: a field we cannot use (a country name we do
not know, a time zone that is not one, "lots" employees) is left empty, never a refused
delivery; only a missing or invalid email drops the record (a lead is its email).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.schemas import EventIn, LeadIn
from tools.crm.mapping import (
    CrmMapping,
    CrmMappingError,
    EventRule,
    LeadFields,
    load_crm_mapping,
)

Lookup = Callable[[str], Any]


def path_lookup(record: dict[str, Any]) -> Lookup:
    """Read `a.b.c` from nested dicts (a key holding the dots itself wins)."""

    def get(path: str) -> Any:
        if path in record:
            return record[path]
        node: Any = record
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    return get


def _scalar(value: Any) -> Any:
    if isinstance(value, dict | list):
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


@cache
def _zones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def _timezone(value: Any) -> str | None:
    # HubSpot stores "america_slash_new_york"; others store the IANA name.
    text = str(value).strip().lower().replace("_slash_", "/")
    return _zones().get(text)


def _employees(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if value >= 0 else None
    match = re.match(r"\s*(\d[\d,]*)", str(value))  # "25-50", "1000+", "1,200"
    return int(match.group(1).replace(",", "")) if match else None


def _first(fields: LeadFields, name: str, lookup: Lookup) -> Any:
    for source in fields.sources(name):
        value = _scalar(lookup(source))
        if value is not None:
            return value
    return None


def lead_from(mapping: CrmMapping, fields: LeadFields, lookup: Lookup) -> LeadIn | None:
    """Our lead from a vendor record, or None when it has no usable email."""
    values: dict[str, Any] = {}
    for name in fields.fields:
        value = _first(fields, name, lookup)
        if value is None:
            continue
        if name == "country":
            value = mapping.country_code(value)
        elif name == "timezone":
            value = _timezone(value)
        elif name == "employees":
            value = _employees(value)
        elif not isinstance(value, str):
            value = str(value)
        if value is not None:
            values[name] = value
    if "email" not in values:
        return None
    for _ in range(len(values)):
        try:
            return LeadIn.model_validate(values)
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            if "email" in bad or not bad & set(values):
                return None
            for field_name in bad:
                values.pop(field_name, None)  # an unusable optional field stays empty
    return None


def event_from(mapping: CrmMapping, rule: EventRule, *, event_id: str, occurred_at: datetime,
               lead: LeadIn, lookup: Lookup, source: str) -> EventIn:
    """Our event for a matched rule; ValidationError when the source's copied values do not fit
    the event type (the caller stores the lead's facts and skips the event)."""
    properties: dict[str, Any] = dict(rule.properties)
    for ours, path in rule.copy_.items():
        value = _scalar(lookup(path))
        if value is not None:
            properties[ours] = value
    properties.update(source=source, crm_mapping_version=mapping.version)
    return EventIn(event_id=event_id, type=rule.type, occurred_at=occurred_at, lead=lead,
                   properties=properties)


def check_event_rules(mapping: CrmMapping, where: str) -> None:
    """At start-up: every rule must produce a valid event with its fixed properties alone (a
    form_submit names one of our forms, a page_view a url...). CrmMappingError otherwise."""
    lead = LeadIn.model_validate({"email": "check@example.com"})
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rules: list[tuple[str, EventRule]] = [
        *((f"hubspot.events[{i}]", r) for i, r in enumerate(mapping.hubspot.events)),
        *((f"salesforce.events[{i}]", r) for i, r in enumerate(mapping.salesforce.events)),
        *((f"segment.events.{name!r}", r) for name, r in mapping.segment.events.items()),
    ]
    problems = []
    for label, rule in rules:
        try:
            event_from(mapping, rule, event_id="check", occurred_at=at, lead=lead,
                       lookup=lambda _path: None, source="check")
        except ValidationError as exc:
            reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            problems.append(f"  {label} ({rule.type}): {reasons}")
    if problems:
        raise CrmMappingError(f"{where}: invalid CRM mapping\n" + "\n".join(problems))


def load_checked_mapping(path: Path) -> CrmMapping:
    """The mapping file, read and checked (fields and event rules): the runtime's start-up."""
    mapping = load_crm_mapping(path)
    check_event_rules(mapping, str(path))
    return mapping
