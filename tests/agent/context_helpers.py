"""Shared inputs for the context-package tests: Ada's lead record, signals stamped relative to one
fixed `NOW`, a qualification to build the package from, and the package's size in bytes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from agent.context import build_context_package
from agent.models import (
    Band,
    ContextPackage,
    Disqualifier,
    EventType,
    Fit,
    LeadProfile,
    Qualification,
    Signal,
)
from agent.policy import Policy, Route
from tests.conftest import T0

NOW = T0
ADA = LeadProfile(
    lead_id="lead-ada", email="ada@acme.io", first_name="Ada", last_name="Park", company="Acme",
    title="VP Operations", domain="acme.io", country="US", employees=850, industry="Software",
)
FIT = Fit(score=100.0, segment="mid-market", in_icp=True, reasons=["mid-market (850 employees)"])


def sig(event_id: str, type_: EventType, ago: timedelta, **properties: Any) -> Signal:
    return Signal(event_id=event_id, type=type_, occurred_at=NOW - ago, properties=properties)


def qual(route: Route = "hand_raise", band: Band = "A", *, hand_raise_event_id: str | None = None,
         fit: Fit = FIT, disqualifiers: list[Disqualifier] | None = None,
         rising: bool = False) -> Qualification:
    return Qualification(
        score=80.0, band=band, fit=fit, intent=50.0, rising=rising,
        disqualifiers=disqualifiers or [], route=route,
        hand_raise_event_id=hand_raise_event_id, policy_version="test",
    )


def build(signals: list[Signal], policy: Policy, q: Qualification | None = None,
          lead: LeadProfile = ADA, **kwargs: Any) -> ContextPackage:
    return build_context_package(lead, q or qual(), signals, NOW, policy, **kwargs)


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def d(days: float) -> timedelta:
    return timedelta(days=days)


def ada_recent() -> list[Signal]:
    """Ada's story: a webinar click, pricing twice this week, then the demo form."""
    return [
        sig("click", "email_click", d(3), url="https://vendor.example/webinar",
            campaign="Q4 webinar", source="linkedin"),
        sig("pricing-1", "page_view", d(2), url="https://vendor.example/pricing"),
        sig("pricing-2", "page_view", m(30), url="https://vendor.example/pricing"),
        sig("blog", "page_view", d(1), url="https://vendor.example/blog/revops"),
        sig("demo", "form_submit", m(12), form="demo", url="https://vendor.example/demo",
            campaign="Q4 webinar", source="linkedin"),
    ]


def long_history() -> list[Signal]:
    """500 events: a long tail of low-intent activity around the same three strong signals."""
    events: list[Signal] = []
    for i in range(440):  # blog reading every ~11 hours for 200 days
        events.append(sig(f"blog-{i}", "page_view", m(3) + timedelta(hours=11 * i),
                          url=f"https://vendor.example/blog/post-{i % 37}"))
    for i in range(30):
        events.append(sig(f"open-{i}", "email_open", d(1 + 3 * i), campaign=f"Nurture {i}"))
    for i in range(26):  # pricing views spread over the last year; the latest is "pv-last"
        events.append(sig(f"pricing-{i}", "page_view", d(2 + 14 * i),
                          url="https://vendor.example/pricing"))
    events.append(sig("pv-last", "page_view", m(30), url="https://vendor.example/pricing"))
    events.append(sig("reply", "inbound_reply", timedelta(hours=2),
                      text="Could you send pricing for 40 seats?\n> earlier thread"))
    events.append(sig("demo", "form_submit", m(12), form="demo", campaign="Q4 webinar",
                      source="linkedin"))
    events.append(sig("old-demo", "form_submit", d(200), form="demo", source="google"))
    assert len(events) == 500
    return events


def size(package: ContextPackage) -> int:
    return len(json.dumps(package.as_prompt(), ensure_ascii=False).encode("utf-8"))
