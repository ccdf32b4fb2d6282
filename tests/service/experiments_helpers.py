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


def seed_variant(rt: Any, experiment: str, variant: str, *, leads: int, sent: int = 0,
                 replies: int = 0, meetings: int = 0, unsubscribes: int = 0,
                 approved: int = 0, edited: int = 0, rejected: int = 0,
                 prefix: str | None = None) -> None:
    """Rows as the hooks write them, in bulk: `leads` assigned leads, each with one drafted
    approval; the first `sent` of them emailed; outcomes on the first leads of each kind."""
    from datetime import timedelta

    from service.experiments import outcome_row
    from store.tables import (
        Approval,
        ExperimentAssignment,
        ExperimentOutcome,
        Handoff,
        Lead,
        OutboxMessage,
    )
    from tests.conftest import T0

    tag = prefix or f"{experiment}-{variant}"
    with rt.db.session() as s:
        for i in range(leads):
            lead_id, approval_id = f"lead_{tag}_{i}"[:40], f"apr_{tag}_{i}"[:40]
            s.add(Lead(id=lead_id, email=f"{tag}-{i}@seed.example", stage="contacted",
                       disqualifiers=[], created_at=T0, updated_at=T0))
            s.flush()
            s.add(Handoff(id=f"hof_{tag}_{i}"[:40], lead_id=lead_id, route="band_a",
                          status="closed", active=False, policy_version="seed", created_at=T0))
            s.flush()
            s.add(Approval(id=approval_id, handoff_id=f"hof_{tag}_{i}"[:40], lead_id=lead_id,
                           version=1, assignee="U0RILEY", subject="Hello", body="Hi",
                           draft_source="offline", policy_version="seed", created_at=T0,
                           status="approved"))
            s.flush()
            s.add(ExperimentAssignment(id=f"xa_{tag}_{i}"[:40], experiment=experiment,
                                       lead_id=lead_id, variant=variant, stage="offline_template",
                                       policy_version="seed", assigned_at=T0))
            s.flush()
            rows = [outcome_row(experiment, variant, lead_id, "drafted", approval_id, T0,
                                approval_id=approval_id)]
            decision = ("approved_as_is" if i < approved else "edited"
                        if i < approved + edited else "rejected"
                        if i < approved + edited + rejected else None)
            if decision:
                rows.append(outcome_row(experiment, variant, lead_id, decision, approval_id,
                                        T0 + timedelta(minutes=i % 60 + 1),
                                        approval_id=approval_id, seconds=60.0 * (i % 60 + 1),
                                        edit_ratio=0.1 if decision == "edited" else None,
                                        reason_code="not_icp" if decision == "rejected"
                                        else None))
            if i < sent:
                s.add(OutboxMessage(id=f"out_{tag}_{i}"[:40], approval_id=approval_id,
                                    lead_id=lead_id, from_email="riley@vendor.example",
                                    subject="Hello", body="Hi",
                                    message_id=f"<out_{tag}_{i}@vendor.example>",
                                    status="sent", attempts=1, created_at=T0, sent_at=T0))
                for kind, count in (("reply", replies), ("meeting", meetings),
                                    ("unsubscribe", unsubscribes)):
                    if i < count:
                        rows.append(outcome_row(experiment, variant, lead_id, kind, lead_id,
                                                T0 + timedelta(days=1)))
            s.flush()
            for row in rows:
                s.add(ExperimentOutcome(**row))
