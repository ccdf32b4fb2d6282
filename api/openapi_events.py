"""The OpenAPI description of `POST /v1/events`: one schema per event `type`, with an example each.

`EventIn` validates `properties` by the event's type (service.schemas `_PROPERTY_RULES`), which a
single JSON schema of the model cannot show. The served schema therefore describes `EventIn` as
a union discriminated by `type`: one component per type (`PageViewEvent`, ...) whose
`properties` object lists what that type requires, its JSON types and limits, generated from
the same rules the validation uses (so the two cannot drift), plus an example per type on the
request body. The validation itself is unchanged.
"""

from __future__ import annotations

import copy
from typing import Any, get_args

from agent.models import EventType
from service.schemas import _PROPERTY_RULES, FORMS, MAX_BATCH

# What each type means, for the schema's descriptions.
MEANING: dict[str, str] = {
    "page_view": "A tracked page view on your site (pricing and demo pages count most).",
    "email_open": "A marketing or sales email was opened. No properties required.",
    "email_click": "A link in an email was clicked.",
    "form_submit": "A form on your site was submitted: `demo`, `contact`, `pricing` and "
                   "`trial` are hand-raises.",
    "event_attended": "The person attended an event or webinar.",
    "inbound_reply": "The person replied to an email; `text` is their words (treated as "
                     "untrusted).",
    "meeting_booked": "A meeting was booked (stops nurture). No properties required.",
    "product_usage": "A usage change in the product, as a percentage.",
    "support_ticket": "A support ticket opened or updated; `sentiment` runs from -1 to 1.",
    "unsubscribe": "The person unsubscribed: no email goes to them again. No properties "
                   "required.",
    "consent": "A consent change: `email_opt_in` true or false.",
}

# One valid value per property (and the extra properties an example shows).
_SAMPLE: dict[str, dict[str, Any]] = {
    "page_view": {"url": "https://vendor.example/pricing"},
    "email_open": {"campaign": "Q4 webinar"},
    "email_click": {"url": "https://vendor.example/webinar", "campaign": "Q4 webinar"},
    "form_submit": {"form": "demo", "campaign": "Q4 webinar", "source": "linkedin"},
    "event_attended": {"name": "Revenue Ops Summit 2026"},
    "inbound_reply": {"text": "Could we talk next week about pricing for 40 seats?"},
    "meeting_booked": {},
    "product_usage": {"metric": "weekly_active_users", "change_pct": 35},
    "support_ticket": {"subject": "SSO setup fails", "sentiment": -0.4, "status": "open"},
    "unsubscribe": {},
    "consent": {"email_opt_in": True},
}

_JSON_TYPES = {str: "string", bool: "boolean", int: "number", float: "number"}
# Limits the validator checks beyond presence and type.
_LIMITS: dict[tuple[str, str], dict[str, Any]] = {
    ("form_submit", "form"): {"enum": list(FORMS)},
    ("support_ticket", "sentiment"): {"minimum": -1, "maximum": 1},
}


def component_name(kind: str) -> str:
    """`page_view` -> `PageViewEvent`."""
    return "".join(part.capitalize() for part in kind.split("_")) + "Event"


def example_event(kind: str) -> dict[str, Any]:
    """A valid event of this type (validated by the tests against EventIn)."""
    return {"event_id": f"evt-{kind.replace('_', '-')}-0001", "type": kind,
            "occurred_at": "2026-11-18T14:55:00Z",
            "lead": {"email": "dana.reyes@acme.example", "first_name": "Dana",
                     "company": "Acme", "title": "VP Sales", "employees": 420,
                     "country": "US"},
            "properties": copy.deepcopy(_SAMPLE[kind])}


def properties_schema(kind: str) -> dict[str, Any]:
    """The `properties` object of one event type: required names, JSON types, limits."""
    rules = _PROPERTY_RULES.get(kind, {})
    fields: dict[str, Any] = {}
    for name, (_, types) in rules.items():
        json_types = sorted({_JSON_TYPES[t] for t in types})
        field: dict[str, Any] = {"type": json_types[0] if len(json_types) == 1 else json_types}
        field.update(_LIMITS.get((kind, name), {}))
        fields[name] = field
    required = [name for name, (needed, _) in rules.items() if needed]
    schema: dict[str, Any] = {
        "type": "object", "properties": fields, "additionalProperties": True,
        "description": ("Required for this type: " + ", ".join(f"`{n}`" for n in required) + "."
                        if required else "Nothing required for this type.")
                       + " Other keys are kept (at most 50 keys, text up to 10,000 characters).",
    }
    if required:
        schema["required"] = required
    return schema


def event_schema(base: dict[str, Any], kind: str) -> dict[str, Any]:
    """EventIn's schema narrowed to one type."""
    schema = copy.deepcopy(base)
    schema["title"] = component_name(kind)
    schema["description"] = MEANING[kind]
    schema["properties"]["type"] = {"type": "string", "enum": [kind], "const": kind}
    schema["properties"]["properties"] = properties_schema(kind)
    if properties_schema(kind).get("required"):
        schema["required"] = [*schema.get("required", []), "properties"]
    schema["examples"] = [example_event(kind)]
    return schema


def describe_events(openapi: dict[str, Any]) -> None:
    """Rewrite the served schema in place: EventIn as the per-type union, examples on the body."""
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    base = components["EventIn"]
    kinds = list(get_args(EventType))
    mapping = {}
    for kind in kinds:
        name = component_name(kind)
        components[name] = event_schema(base, kind)
        mapping[kind] = f"#/components/schemas/{name}"
    components["EventIn"] = {
        "title": "EventIn",
        "description": ("One buying signal. `type` decides what `properties` must carry; see "
                        "each type's schema. Times need a UTC offset (e.g. `Z`)."),
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }
    body = (openapi.get("paths", {}).get("/v1/events", {}).get("post", {})
            .get("requestBody", {}).get("content", {}).get("application/json"))
    if body is None:
        return
    examples: dict[str, Any] = {kind: {"summary": f"{kind}: {MEANING[kind]}",
                                       "value": example_event(kind)} for kind in kinds}
    examples["batch"] = {"summary": f"A batch: {{\"events\": [...]}}, at most {MAX_BATCH:,}",
                         "value": {"events": [example_event("page_view"),
                                              example_event("form_submit")]}}
    body["examples"] = examples
