"""Input models: what the outside may send. Validation here is the same for API, CLI and evals."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from agent.email_rules import (
    MAX_SUBJECT_CHARS,
    LeadAddress,
    clean_body,
    clean_header_text,
    header_text_problem,
)
from agent.language import canonical_form
from agent.models import EventType
from agent.policy import REASON_CODES, Policy, ReasonCode, load_policy

FORMS = ("demo", "contact", "pricing", "trial", "content", "newsletter")

MAX_BATCH = 1000


@cache
def _language_policy() -> Policy:
    """The policy whose [languages] form names events are validated against: HITL_POLICY_FILE
    when set, else the shipped one (read once per process)."""
    import os

    from config.settings import DEFAULTS_DIR

    return load_policy(Path(os.environ.get("HITL_POLICY_FILE") or DEFAULTS_DIR / "policy.toml"))


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _one_line(value: str | None) -> str | None:
    """`value` as one line by the header rule (`clean_header_text`: breaks and runs of
    whitespace made one space), its other control characters dropped first. None when nothing
    is left."""
    if value is None:
        return None
    kept = "".join(ch for ch in value if ch.isspace() or unicodedata.category(ch) != "Cc")
    return clean_header_text(kept, limit=len(kept)) or None


class LeadIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=500)

    # One rule for every entry (service/addresses.py): one bare address, canonical form.
    email: LeadAddress = Field(max_length=320)
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    title: str | None = None
    domain: str | None = None
    country: str | None = None
    employees: int | None = Field(None, ge=0, le=10_000_000)
    industry: str | None = None
    timezone: str | None = None

    @field_validator("first_name", "last_name", "company", "title", "industry")
    @classmethod
    def _single_line(cls, value: str | None) -> str | None:
        # A CRM field may hold a line break ("VP Sales\nEMEA"): kept as one line, so no record
        # can start a line of its own in a card, a DM or a log (slack_app/text.py one_line).
        return _one_line(value)

    @field_validator("domain")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return _clean(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        value = _clean(value)
        if value is None:
            return None
        if len(value) != 2 or not value.isalpha():
            raise ValueError("must be a two-letter ISO country code such as US")
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        value = _clean(value)
        if value is None:
            return None
        if len(value) > 64:
            raise ValueError("is not a time zone (IANA names are at most 64 characters)")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: absurd file names
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


# The range every accepted date must fall in, once its UTC offset is applied: all the date
# arithmetic downstream (SLA windows, suppression, "last touch") stays far inside Python's.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)


def utc_datetime(value: datetime) -> datetime:
    """An aware datetime in UTC, or ValueError (422) saying why: no time zone, or out of range
    (e.g. "9999-12-31T23:59:59-23:59" is past year 9999 in UTC, which used to be a 500)."""
    if value.tzinfo is None:
        raise ValueError("must include a time zone, e.g. 2026-11-20T14:03:00Z")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once its UTC offset is applied") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return utc


# Event `properties` are lead-controlled: bounded in count, key length, text length and shape.
MAX_PROPERTIES = 50
MAX_PROPERTY_KEY = 64
MAX_PROPERTY_TEXT = 10_000
MAX_PROPERTY_DEPTH = 4


def _label(key: object) -> str:
    """A property key fit for an error message: hostile keys are quoted, escaped, cut."""
    text = str(key)
    if text and len(text) <= 40 and text.isprintable():
        return text
    return repr(text[:40]) + ("…" if len(text) > 40 else "")


def _check_property_limits(props: dict[str, Any]) -> None:
    """ValueError naming the property when `props` exceeds a limit. Values are text, numbers,
    booleans or null, or lists/objects of them nested at most MAX_PROPERTY_DEPTH deep; a
    nested value counts its text towards the same MAX_PROPERTY_TEXT."""
    if len(props) > MAX_PROPERTIES:
        raise ValueError(f"properties has {len(props)} keys; at most {MAX_PROPERTIES}")
    for key, value in props.items():
        if not 1 <= len(key) <= MAX_PROPERTY_KEY:
            raise ValueError(f"properties key {_label(key)} must be 1 to {MAX_PROPERTY_KEY} "
                             "characters")
        size = 0
        stack: list[tuple[Any, int]] = [(value, 0)]  # iterative: no recursion on hostile depth
        while stack:
            node, depth = stack.pop()
            if isinstance(node, str):
                size += len(node)
            elif isinstance(node, dict | list):
                if depth >= MAX_PROPERTY_DEPTH:
                    raise ValueError(f"properties.{_label(key)} is nested deeper than "
                                     f"{MAX_PROPERTY_DEPTH} levels")
                if isinstance(node, dict):
                    size += sum(len(str(k)) for k in node)
                    children = list(node.values())
                else:
                    children = list(node)
                size += len(children)
                stack.extend((child, depth + 1) for child in children)
            elif isinstance(node, float) and not math.isfinite(node):
                # JSON's NaN/Infinity extensions: stored, they are not JSON PostgreSQL accepts.
                raise ValueError(f"properties.{_label(key)} must be a finite number")
            elif node is not None and not isinstance(node, bool | int | float):
                raise ValueError(f"properties.{_label(key)} must be text, a number, a "
                                 "boolean, null, or a list or object of those")
            if size > MAX_PROPERTY_TEXT:
                raise ValueError(f"properties.{_label(key)} is longer than "
                                 f"{MAX_PROPERTY_TEXT:,} characters")


# What each event type must carry in `properties`: name -> (required, python types).
_PROPERTY_RULES: dict[str, dict[str, tuple[bool, tuple[type, ...]]]] = {
    "page_view": {"url": (True, (str,))},
    "email_click": {"url": (False, (str,)), "campaign": (False, (str,))},
    "form_submit": {"form": (True, (str,))},
    "event_attended": {"name": (True, (str,))},
    "inbound_reply": {"text": (True, (str,))},
    "product_usage": {"metric": (True, (str,)), "change_pct": (True, (int, float))},
    "support_ticket": {
        "subject": (True, (str,)), "sentiment": (True, (int, float)), "status": (True, (str,)),
    },
    "consent": {"email_opt_in": (True, (bool,))},
}


class EventIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(min_length=1, max_length=200)
    type: EventType
    occurred_at: datetime
    lead: LeadIn
    properties: dict[str, Any] = {}

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return utc_datetime(value)

    @field_validator("properties")
    @classmethod
    def _properties_fit_type(cls, props: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        _check_property_limits(props)
        kind = info.data.get("type")
        if kind is None:  # the type itself failed; that error is reported already
            return props
        for name, (required, types) in _PROPERTY_RULES.get(kind, {}).items():
            value = props.get(name)
            if value is None:
                if required:
                    raise ValueError(f"properties.{name} is required for a {kind} event")
                continue
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                raise ValueError(f"properties.{name} must be {types[0].__name__}")
        if kind == "form_submit" and props["form"] not in FORMS:
            # A form named in another language ("Demo-Anfrage", "Contacto") is stored under its
            # canonical name, the name it was sent with kept beside it.
            canonical = canonical_form(props["form"], _language_policy())
            if canonical not in FORMS:
                raise ValueError(f"properties.form must be one of {', '.join(FORMS)} (or its "
                                 "name in German, French or Spanish, e.g. Demo-Anfrage)")
            props = {**props, "form": canonical, "form_name": props["form"]}
        if kind == "support_ticket" and not -1 <= props["sentiment"] <= 1:
            raise ValueError("properties.sentiment must be between -1 and 1")
        return props


class EventBatchIn(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


DecisionAction = Literal["approve", "edit", "revise", "escalate", "reject"]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: DecisionAction
    # Who decides (Slack id or email). Optional with a personal token (the token's member
    # decides; if given it must be that member); required with the service token.
    actor: str | None = Field(None, min_length=1, max_length=320)
    subject: str | None = Field(None, max_length=MAX_SUBJECT_CHARS, validate_default=True)
    body: str | None = Field(None, max_length=20_000, validate_default=True)
    instruction: str | None = Field(None, max_length=2_000, validate_default=True)
    reason_code: ReasonCode | None = Field(None, validate_default=True)
    escalate_to: str | None = Field(None, max_length=320)
    note: str | None = Field(None, max_length=2_000)

    # Field validators (not one model validator) so a 422 names the field that is wrong.
    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("action") == "edit" and value is not None and not value.strip():
            raise ValueError("must not be empty when given for edit")
        # Refused here, before anything is recorded: "\r\nBcc: ..." must never reach SMTP.
        problem = header_text_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("body")
    @classmethod
    def _body(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("action") == "edit" and not (value and value.strip()):
            raise ValueError("is required for edit (the text to send)")
        return clean_body(value) if value is not None else None

    @field_validator("instruction")
    @classmethod
    def _instruction(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("action") == "revise" and not (value and value.strip()):
            raise ValueError("is required for revise (what to change)")
        return value

    @field_validator("actor", "instruction", "escalate_to", "note")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # NUL is never meant, and PostgreSQL cannot store it (a 500 instead of a 422).
        if value is not None and "\x00" in value:
            raise ValueError("contains a NUL character")
        return value

    @field_validator("reason_code")
    @classmethod
    def _reason(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("action") == "reject" and not value:
            raise ValueError(f"is required for reject: one of {', '.join(REASON_CODES)}")
        return value
