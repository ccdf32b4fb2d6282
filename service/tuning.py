"""The feedback loop: read what reps decided and what happened next, propose policy changes.

Proposals are a reviewable diff of the policy file with the evidence behind each change, never
applied silently: a person commits the proposed file (with its new version and changelog line).
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import tomlkit
from sqlalchemy import select

from service.experiments_tuning import (
    ExperimentAdvice,
    csat_evidence,
    current_value,
    experiment_advice,
)
from service.runtime import AppRuntime
from store.tables import Approval, Event, Handoff

POSITIVE = {"rejected:connected", "rejected:meeting_set"}
WRONG_FIT = {"rejected:not_icp", "rejected:competitor"}
BAND_STEP = 5.0
WEIGHT_FACTOR = 0.25


@dataclass
class Outcomes:
    cases: int = 0
    positive: int = 0
    wrong_fit: int = 0

    @property
    def positive_rate(self) -> float:
        return self.positive / self.cases if self.cases else 0.0

    @property
    def wrong_fit_rate(self) -> float:
        return self.wrong_fit / self.cases if self.cases else 0.0


@dataclass
class Change:
    path: str
    old: float
    new: float
    evidence: str


@dataclass
class TuningProposal:
    by_band: dict[str, Outcomes] = field(default_factory=dict)
    by_signal: dict[str, Outcomes] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    proposed_text: str = ""
    diff: str = ""
    # What the experiments say to keep, and CSAT by path and trigger (service/experiments_tuning).
    experiments: list[ExperimentAdvice] = field(default_factory=list)
    csat: dict[str, Any] | None = None


def collect_outcomes(rt: AppRuntime, *, since_days: int = 90
                     ) -> tuple[dict[str, Outcomes], dict[str, Outcomes]]:
    """Closed handoffs by the band and strongest signal they were carded with."""
    since = rt.clock.now() - timedelta(days=since_days)
    by_band: dict[str, Outcomes] = defaultdict(Outcomes)
    by_signal: dict[str, Outcomes] = defaultdict(Outcomes)
    with rt.db.session() as session:
        rows = session.execute(
            select(Handoff.id, Handoff.lead_id, Handoff.outcome, Handoff.created_at,
                   Approval.context)
            .join(Approval, (Approval.handoff_id == Handoff.id) & (Approval.version == 1))
            .where(Handoff.active.is_(False), Handoff.closed_at >= since)).all()
        met = {lead_id for (lead_id,) in session.execute(
            select(Event.lead_id).where(Event.type == "meeting_booked",
                                        Event.occurred_at >= since))}
    for row in rows:
        context: dict[str, Any] = row.context or {}
        positive = row.outcome in POSITIVE or row.lead_id in met
        signals = context.get("top_signals") or []
        keys = [("band", context.get("band", "?"))]
        if signals:
            keys.append(("signal", _signal_key(signals[0])))
        for kind, key in keys:
            bucket = (by_band if kind == "band" else by_signal)[key]
            bucket.cases += 1
            bucket.positive += positive
            bucket.wrong_fit += row.outcome in WRONG_FIT
    return dict(by_band), dict(by_signal)


def _signal_key(signal: dict[str, Any]) -> str:
    """`form_submit:demo`-style keys map onto the policy's weight tables."""
    detail = str(signal.get("detail", "")).lower()
    if signal.get("type") == "form_submit":
        for form in ("demo", "contact", "pricing", "trial", "content", "newsletter"):
            if f"{form} form" in detail:
                return f"form_submit:{form}"
    return str(signal.get("type"))


def propose(rt: AppRuntime, *, since_days: int = 90, min_cases: int = 10) -> TuningProposal:
    by_band, by_signal = collect_outcomes(rt, since_days=since_days)
    proposal = TuningProposal(by_band=by_band, by_signal=by_signal)
    policy = rt.policy
    a = by_band.get("A", Outcomes())
    b = by_band.get("B", Outcomes())
    if a.cases >= min_cases and a.wrong_fit_rate > 0.25:
        proposal.changes.append(Change(
            "bands.A", policy.bands.A, policy.bands.A + BAND_STEP,
            f"{a.wrong_fit}/{a.cases} band A handoffs were rejected as not ICP or competitor "
            f"({a.wrong_fit_rate:.0%} > 25%)"))
    elif a.cases >= min_cases and b.cases >= min_cases and b.positive_rate >= a.positive_rate:
        new = max(policy.bands.B + 1, policy.bands.A - BAND_STEP)
        proposal.changes.append(Change(
            "bands.A", policy.bands.A, new,
            f"band B converted at {b.positive_rate:.0%} ({b.positive}/{b.cases}), not below band "
            f"A's {a.positive_rate:.0%} ({a.positive}/{a.cases}): let more of B in"))
    for key, outcome in sorted(by_signal.items()):
        if outcome.cases < min_cases:
            continue
        table, name = (("scoring.form_weights", key.split(":", 1)[1]) if ":" in key
                       else ("scoring.event_weights", key))
        weights = (policy.scoring.form_weights if table.endswith("form_weights")
                   else policy.scoring.event_weights)
        if name not in weights or not weights[name]:
            continue
        old = weights[name]
        if outcome.positive_rate < 0.10:
            factor, why = 1 - WEIGHT_FACTOR, "rarely led anywhere"
        elif outcome.positive_rate > 0.50:
            factor, why = 1 + WEIGHT_FACTOR, "usually led to a conversation"
        else:
            continue
        proposal.changes.append(Change(
            f"{table}.{name}", old, round(old * factor, 1),
            f"handoffs led by {key} {why}: {outcome.positive}/{outcome.cases} "
            f"({outcome.positive_rate:.0%})"))
    proposal.experiments = experiment_advice(rt)
    proposal.csat = csat_evidence(rt)
    for advice in proposal.experiments:  # a winning threshold variant joins the diff
        for path, new in advice.thresholds.items():
            if all(c.path != path for c in proposal.changes):
                proposal.changes.append(Change(path, current_value(policy, path), new,
                                               f"experiment {advice.experiment}: "
                                               f"{advice.winner} won ({advice.evidence})"))
    proposal.proposed_text, proposal.diff = _render(rt.settings.policy_file, policy.version,
                                                    proposal.changes)
    return proposal


def _render(path: Path, version: str, changes: list[Change]) -> tuple[str, str]:
    """Apply the changes to a copy of the policy text, keeping its comments and layout."""
    original = path.read_text()
    if not changes:
        return original, ""
    document = tomlkit.parse(original)
    for change in changes:
        *parents, leaf = change.path.split(".")
        node: Any = document
        for part in parents:
            node = node[part]
        node[leaf] = change.new
    new_version = f"{version}-tuned"
    document["version"] = new_version
    log = document.get("changelog")
    entry = f"{new_version}: proposed by `hitl tune`: " + "; ".join(
        f"{c.path} {c.old:g} -> {c.new:g}" for c in changes)
    if log is None:
        document["changelog"] = [entry]
    else:
        log.append(entry)
    proposed = tomlkit.dumps(document)
    diff = "".join(difflib.unified_diff(
        original.splitlines(keepends=True), proposed.splitlines(keepends=True),
        fromfile=str(path), tofile=f"{path} (proposed)"))
    return proposed, diff
