"""Shared by the experiments tests: a policy file with two experiments (a drafting one, a
threshold one), written next to the test's database, and small store readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from config.settings import DEFAULTS_DIR
from store.tables import ExperimentAssignment, ExperimentOutcome

EXPERIMENTS_TOML = """
[[experiments]]
name = "first-email-length"
stage = "offline_template"
description = "short vs long first email"
split = [0.5, 0.5]
starts_at = 2026-11-01T00:00:00Z
ends_at = 2026-12-15T00:00:00Z

[[experiments.variants]]
name = "long"
description = "the template as written"

[[experiments.variants]]
name = "short"
description = "asks the drafter for a short email"
instruction = "keep it short"

[[experiments]]
name = "band-a-cut"
stage = "policy_threshold"
split = [0.5, 0.5]
starts_at = 2026-11-01T00:00:00Z

[[experiments.variants]]
name = "control"

[[experiments.variants]]
name = "lower"
thresholds = { "bands.A" = 55 }
"""


def policy_with_experiments(folder: Path, extra: str = EXPERIMENTS_TOML) -> Path:
    path = folder / "policy.toml"
    path.write_text((DEFAULTS_DIR / "policy.toml").read_text() + "\n" + extra)
    return path


def assignments(rt: Any) -> dict[tuple[str, str], str]:
    with rt.db.read() as s:
        return {(a.experiment, a.lead_id): a.variant
                for a in s.scalars(select(ExperimentAssignment))}


def outcomes(rt: Any, kind: str | None = None) -> list[ExperimentOutcome]:
    with rt.db.read() as s:
        query = select(ExperimentOutcome).order_by(ExperimentOutcome.occurred_at)
        if kind:
            query = query.where(ExperimentOutcome.kind == kind)
        rows = list(s.scalars(query))
        s.expunge_all()
        return rows


def make_leads(rt: Any, count: int, prefix: str) -> list[str]:
    """`count` leads in the store (one page view each, stored by the real ingest)."""
    from service.ingest import ingest_events
    from service.schemas import EventIn
    from tests.conftest import LEAD_ADA, T0, event

    ids = []
    for i in range(count):
        lead = dict(LEAD_ADA, email=f"{prefix}{i}@acme.io")
        result = ingest_events(rt, [EventIn.model_validate(event(
            f"{prefix}-{i}", "page_view", at=T0, lead=lead, url="https://vendor.example/blog"))])
        ids.append(result.leads[0]["lead_id"])
    return ids
