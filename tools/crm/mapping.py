"""The CRM mapping file (HITL_CRM_FILE): vendor fields -> our lead fields, vendor events -> our
event types, our outcomes -> CRM status values. Data, not code: a team edits the TOML, the
process checks it at start-up (`load_crm_mapping`, called by the runtime) and refuses to start on
a mistake, naming the file, the field and why.

The inbound connectors (service/crm_inbound.py) read `lead_fields` and the event rules; the
write-back (tools/crm) reads `outcomes`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.models import EventType
from agent.policy import REASON_CODES, PolicyFileError

LeadField = Literal["email", "first_name", "last_name", "company", "title", "domain", "country",
                    "employees", "industry", "timezone"]
LEAD_FIELDS: tuple[str, ...] = get_args(LeadField)

DECISIONS = ("approve", "edit", "revise", "escalate", "reject")
# `recycled`: the automatic no-response recycle (service/nurture.py), no person decided; left
# out of the file, the `no_response` disposition's values are written (CrmMapping.outcome).
RECYCLED = "recycled"
OUTCOME_KEYS: tuple[str, ...] = ("handoff_started", *DECISIONS, *REASON_CODES, RECYCLED)

# HubSpot's own values (a portal may add lead statuses: hubspot.extra_lead_statuses; custom
# lifecycle stages are referred to by their numeric id).
HUBSPOT_LIFECYCLE_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                            "opportunity", "customer", "evangelist", "other")
HUBSPOT_LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED",
                         "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING")

Scalar = str | int | float | bool


class CrmMappingError(PolicyFileError):
    """A mapping file that cannot be used, naming the file and the fields at fault (a
    PolicyFileError: start-up reports it like a bad policy file and exits 2)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class LeadFields(_Frozen):
    """Our lead field -> the vendor's field names or paths, first non-empty value wins."""

    fields: dict[LeadField, list[str]]

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and "fields" not in data:
            return {"fields": {k: _as_list(v) for k, v in data.items()}}
        return data

    @field_validator("fields")
    @classmethod
    def _email_needed(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not value.get("email"):
            raise ValueError("email must name at least one source field (a lead is its email)")
        for name, sources in value.items():
            if not sources or any(not s.strip() for s in sources):
                raise ValueError(f"{name} must name one or more non-empty source fields")
        return value

    def sources(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))  # type: ignore[call-overload]

    def all_sources(self) -> list[str]:
        return sorted({s for sources in self.fields.values() for s in sources})


class EventRule(_Frozen):
    """One of our events: its type, fixed properties, and properties copied from the source
    (our property name -> a path into the vendor's record)."""

    type: EventType
    properties: dict[str, Scalar] = {}
    copy_: dict[str, str] = Field(default_factory=dict, alias="copy")


class _Match(_Frozen):
    value: str | None = None
    value_contains: str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> _Match:
        if self.value is not None and self.value_contains is not None:
            raise ValueError("give value or value_contains, not both")
        return self

    def matches_value(self, actual: object) -> bool:
        text = "" if actual is None else str(actual).strip().lower()
        if self.value is not None:
            return text == self.value.strip().lower()
        if self.value_contains is not None:
            return self.value_contains.strip().lower() in text
        return True


class HubSpotEventRule(EventRule, _Match):
    subscription: str = Field(min_length=1)
    property: str | None = None

    @model_validator(mode="after")
    def _value_needs_property(self) -> HubSpotEventRule:
        if (self.value is not None or self.value_contains is not None) and not self.property:
            raise ValueError("value/value_contains test a property: name it in `property`")
        return self

    def matches(self, delivery: dict[str, Any]) -> bool:
        if delivery.get("subscriptionType") != self.subscription:
            return False
        if self.property is not None and delivery.get("propertyName") != self.property:
            return False
        return self.matches_value(delivery.get("propertyValue"))


class SalesforceEventRule(EventRule, _Match):
    object: str = Field(min_length=1)
    field: str | None = None

    @model_validator(mode="after")
    def _value_needs_field(self) -> SalesforceEventRule:
        if (self.value is not None or self.value_contains is not None) and not self.field:
            raise ValueError("value/value_contains test a field: name it in `field`")
        return self

    def matches(self, object_type: str, fields: dict[str, str]) -> bool:
        if object_type.lower() != self.object.lower():
            return False
        if self.field is None:
            return True
        return self.field in fields and self.matches_value(fields[self.field])


class HubSpotMapping(_Frozen):
    lead_fields: LeadFields
    events: list[HubSpotEventRule] = []
    extra_lead_statuses: list[str] = []
    # Write-back (tools/crm/hubspot_writer.py): our key's property on tasks and emails.
    writeback_key_property: str = Field("hitl_idempotency_key", pattern=r"^[a-z0-9_]*$",
                                        max_length=100)

    def rule_for(self, delivery: dict[str, Any]) -> HubSpotEventRule | None:
        return next((r for r in self.events if r.matches(delivery)), None)

    def contact_properties(self) -> list[str]:
        """The contact properties the CRM API read asks for."""
        names = set(self.lead_fields.all_sources())
        names |= {r.property for r in self.events if r.property}
        return sorted(names)


class SalesforceMapping(_Frozen):
    lead_fields: LeadFields
    events: list[SalesforceEventRule] = []
    # Write-back (tools/crm/salesforce_writer.py): Task upserts by this external id field.
    writeback_external_id_field: str = Field("Hitl_Key__c",
                                             pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=80)
    api_version: str = Field("v60.0", pattern=r"^v\d{2,3}\.0$")

    def rule_for(self, object_type: str, fields: dict[str, str]) -> SalesforceEventRule | None:
        return next((r for r in self.events if r.matches(object_type, fields)), None)


class SegmentMapping(_Frozen):
    lead_fields: LeadFields
    events: dict[str, EventRule] = {}

    def rule_for(self, name: str) -> EventRule | None:
        wanted = name.strip().lower()
        return next((r for key, r in self.events.items() if key.strip().lower() == wanted), None)


class Outcome(_Frozen):
    hubspot_lifecyclestage: str | None = None
    hubspot_lead_status: str | None = None
    salesforce_status: str | None = Field(None, min_length=1, max_length=255)

    @field_validator("hubspot_lifecyclestage")
    @classmethod
    def _stage(cls, value: str | None) -> str | None:
        if value is not None and value not in HUBSPOT_LIFECYCLE_STAGES and not value.isdigit():
            raise ValueError(f"{value!r} is not a HubSpot lifecycle stage: one of "
                             f"{', '.join(HUBSPOT_LIFECYCLE_STAGES)} or a custom stage's id")
        return value


class CrmMapping(_Frozen):
    version: str = Field(min_length=1, max_length=64)
    changelog: list[str] = []
    countries: dict[str, str] = {}
    hubspot: HubSpotMapping
    salesforce: SalesforceMapping
    segment: SegmentMapping
    outcomes: dict[str, Outcome] = {}

    @field_validator("countries")
    @classmethod
    def _iso(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k, v in value.items() if len(v) != 2 or not v.isalpha() or not v.isupper()]
        if bad:
            raise ValueError(f"{', '.join(bad)}: must map to a two-letter ISO code such as US")
        return {k.strip().lower(): v for k, v in value.items()}

    @field_validator("outcomes")
    @classmethod
    def _known_outcomes(cls, value: dict[str, Outcome]) -> dict[str, Outcome]:
        unknown = [k for k in value if k not in OUTCOME_KEYS]
        if unknown:
            raise ValueError(f"unknown outcome {', '.join(unknown)}: use "
                             f"{', '.join(OUTCOME_KEYS)}")
        missing = [k for k in REASON_CODES if k not in value]
        if missing:
            raise ValueError(f"every disposition needs an entry (may be empty); missing: "
                             f"{', '.join(missing)}")
        return value

    @model_validator(mode="after")
    def _lead_statuses(self) -> CrmMapping:
        allowed = set(HUBSPOT_LEAD_STATUSES) | set(self.hubspot.extra_lead_statuses)
        for key, outcome in self.outcomes.items():
            status = outcome.hubspot_lead_status
            if status is not None and status not in allowed:
                raise ValueError(f"outcomes.{key}.hubspot_lead_status: {status!r} is not a "
                                 f"HubSpot lead status ({', '.join(sorted(allowed))}); add a "
                                 "portal's own to hubspot.extra_lead_statuses")
        return self

    def country_code(self, value: object) -> str | None:
        """An ISO code for a CRM's country text, or None when it is not one we know."""
        text = str(value or "").strip()
        if len(text) == 2 and text.isalpha():
            return text.upper()
        return self.countries.get(text.lower())

    def outcome(self, key: str) -> Outcome:
        if key == RECYCLED and key not in self.outcomes:
            key = "no_response"  # the automatic recycle is that disposition, by the system
        return self.outcomes.get(key) or Outcome.model_validate({})


def _where(loc: tuple[Any, ...]) -> str:
    """A field's place as the file names it (not the model's inner `fields` wrapper)."""
    parts = [str(p) for p in loc if p != "[key]"]
    parts = [p for i, p in enumerate(parts)
             if not (p == "fields" and i and parts[i - 1] == "lead_fields")]
    return ".".join(parts) or "(top)"


def _explain(path: Path, exc: ValidationError) -> CrmMappingError:
    lines = [f"  {_where(err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
             for err in exc.errors()]
    return CrmMappingError(f"{path}: invalid CRM mapping\n" + "\n".join(lines))


def load_crm_mapping(path: Path) -> CrmMapping:
    """Read and check the mapping file; CrmMappingError names the file and every field at fault."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise CrmMappingError(f"{path}: file not found (HITL_CRM_FILE)") from None
    except tomllib.TOMLDecodeError as exc:
        raise CrmMappingError(f"{path}: not valid TOML ({exc})") from None
    try:
        return CrmMapping.model_validate(data)
    except ValidationError as exc:
        raise _explain(path, exc) from None
