"""Shared builders for the qualification tests: the default policy, an ICP lead, signals
stamped relative to one fixed `NOW`."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.models import EventType, LeadProfile, Signal
from agent.policy import load_policy

POLICY = load_policy(Path(__file__).resolve().parents[2] / "config" / "defaults" / "policy.toml")
# Wednesday 10:00 in New York.
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
_ids = itertools.count()

ICP_LEAD: dict[str, Any] = dict(
    email="ada.park@acme.io", first_name="Ada", last_name="Park", company="Acme",
    title="VP Operations", domain="acme.io", country="US", employees=850, industry="Software",
)


def lead(**overrides: Any) -> LeadProfile:
    return LeadProfile(lead_id="lead-1", **{**ICP_LEAD, **overrides})


def sig(type_: EventType, ago: timedelta = timedelta(0), **properties: Any) -> Signal:
    return Signal(event_id=f"evt-{next(_ids)}", type=type_, occurred_at=NOW - ago,
                  properties=properties)


def page(url: str, ago: timedelta = timedelta(0)) -> Signal:
    return sig("page_view", ago, url=url)


def form(name: str, ago: timedelta = timedelta(0)) -> Signal:
    return sig("form_submit", ago, form=name)


D = timedelta(days=1)
H = timedelta(hours=1)
