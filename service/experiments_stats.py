"""The honest comparison of an experiment's variants: counts, rates with 95 % Wilson intervals
(scipy's binomtest), and whether the difference is significant yet (Fisher's exact test for two
variants, chi-square for more), with a warning while samples are small.

Denominators: decision rates over decided drafts (approved as-is + edited + rejected); replies
over sent emails; meetings, unsubscribes and complaints over leads emailed. scipy is imported
inside the functions that use it (it takes a while to import; most commands never need it).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from agent.experiments import Experiment, running
from service.experiments import experiment_named, stopped_names
from service.runtime import AppRuntime
from store.tables import ExperimentAssignment, ExperimentOutcome, OutboxMessage

ALPHA = 0.05
MIN_SAMPLE = 30
PRIMARY = ("replies", "meetings", "approved_as_is")
COUNTS = ("assigned", "drafted", "decided", "approved_as_is", "edited", "rejected", "sent",
          "emailed_leads", "replies", "meetings", "unsubscribes", "complaints")
# metric -> denominator
RATES = {"approved_as_is": "decided", "edited": "decided", "rejected": "decided",
         "replies": "sent", "meetings": "emailed_leads", "unsubscribes": "emailed_leads",
         "complaints": "emailed_leads"}
_OUTCOME_COUNTS = {"approved_as_is": "approved_as_is", "edited": "edited",
                   "rejected": "rejected", "reply": "replies", "meeting": "meetings",
                   "unsubscribe": "unsubscribes", "complaint": "complaints", "drafted": "drafted"}


def wilson(successes: int, n: int) -> tuple[float, float] | None:
    """The 95 % Wilson score interval for successes/n (None when n is 0)."""
    if n <= 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def difference_p(table: list[tuple[int, int]]) -> tuple[float, str] | None:
    """p-value that these (successes, n) rows share one rate, and the test used; None when the
    table cannot be tested (a variant with n = 0, or no success or no failure at all)."""
    if len(table) < 2 or any(n <= 0 for _, n in table):
        return None
    successes = [s for s, _ in table]
    failures = [n - s for s, n in table]
    if sum(successes) == 0 or sum(failures) == 0:
        return None
    if len(table) == 2:
        from scipy.stats import fisher_exact

        result = fisher_exact([successes, failures])
        return float(result.pvalue), "fisher_exact"
    from scipy.stats import chi2_contingency

    return float(chi2_contingency([successes, failures]).pvalue), "chi2_contingency"


def adjusted(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (scipy's false_discovery_control): three primary
    metrics tested at once would call a difference "significant" by luck about one time in
    seven at 5 % each; the adjusted values keep that rate at 5 % overall."""
    if len(p_values) < 2:
        return list(p_values)
    from scipy.stats import false_discovery_control

    return [float(p) for p in false_discovery_control(p_values, method="bh")]


def _status(experiment: Experiment, now: datetime, stopped: bool) -> str:
    if stopped:
        return "stopped"
    if now < experiment.starts_at:
        return "scheduled"
    return "running" if running(experiment, now) else "ended"


def _collect(rt: AppRuntime, names: list[str]) -> tuple[dict, dict, dict]:
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    details: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    with rt.db.read() as session:
        stops = stopped_names(session)
        for name, variant, assigned in session.execute(
                select(ExperimentAssignment.experiment, ExperimentAssignment.variant,
                       func.count()).where(ExperimentAssignment.experiment.in_(names))
                .group_by(ExperimentAssignment.experiment, ExperimentAssignment.variant)):
            counts[(name, variant)]["assigned"] = int(assigned)
        for row in session.scalars(select(ExperimentOutcome)
                                   .where(ExperimentOutcome.experiment.in_(names))):
            key = (row.experiment, row.variant)
            field = _OUTCOME_COUNTS.get(row.kind)
            if field:
                counts[key][field] += 1
            if row.kind in ("approved_as_is", "edited", "rejected"):
                counts[key]["decided"] += 1
                if row.seconds is not None:
                    details[key]["seconds"].append(row.seconds)
            if row.kind == "edited" and row.edit_ratio is not None:
                details[key]["edit_ratio"].append(row.edit_ratio)
            if row.kind == "rejected":
                details[key]["reasons"].append(row.reason_code or "unspecified")
        sent = session.execute(
            select(ExperimentOutcome.experiment, ExperimentOutcome.variant,
                   OutboxMessage.id, OutboxMessage.lead_id)
            .join(OutboxMessage, OutboxMessage.approval_id == ExperimentOutcome.approval_id)
            .where(ExperimentOutcome.kind == "drafted", ExperimentOutcome.experiment.in_(names),
                   OutboxMessage.sent_at.is_not(None))).all()
        stop_views = {k: {"stopped_at": v.stopped_at, "stopped_by": v.stopped_by,
                          "note": v.note} for k, v in stops.items()}
    leads: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, variant, _outbox, lead_id in sent:
        counts[(name, variant)]["sent"] += 1
        leads[(name, variant)].add(lead_id)
    for key, ids in leads.items():
        counts[key]["emailed_leads"] = len(ids)
    return counts, details, stop_views


def _rate(successes: int, n: int) -> dict[str, Any]:
    interval = wilson(successes, n)
    return {"rate": round(successes / n, 4) if n else None, "n": n,
            "low": round(interval[0], 4) if interval else None,
            "high": round(interval[1], 4) if interval else None}


def compare(rt: AppRuntime, name: str | None = None) -> list[dict[str, Any]]:
    """Every experiment in the policy (or the one named), compared variant by variant."""
    experiments = [experiment_named(rt, name)] if name else list(rt.policy.experiments)
    if not experiments:
        return []
    counts, details, stops = _collect(rt, [e.name for e in experiments])
    now = rt.clock.now()
    return [_view(e, counts, details, stops.get(e.name), now) for e in experiments]


def _view(experiment: Experiment, counts: dict, details: dict, stop: dict | None,
          now: datetime) -> dict[str, Any]:
    variants: list[dict[str, Any]] = []
    for variant, share in zip(experiment.variants, experiment.split, strict=True):
        key = (experiment.name, variant.name)
        c = counts.get(key, Counter())
        d = details.get(key, {})
        seconds, ratios = d.get("seconds", []), d.get("edit_ratio", [])
        variants.append({
            "name": variant.name, "description": variant.description, "share": share,
            **{k: int(c.get(k, 0)) for k in COUNTS},
            "rates": {m: _rate(int(c.get(m, 0)), int(c.get(den, 0))) for m, den in RATES.items()},
            "rejected_by_reason": dict(Counter(d.get("reasons", [])).most_common()),
            "edit_ratio_mean": round(statistics.fmean(ratios), 4) if ratios else None,
            "time_to_decision_p50_seconds": statistics.median(seconds) if seconds else None,
            "significant": False, "vs_control": {},
        })
    tests: dict[str, Any] = {}
    for metric in PRIMARY + ("edited", "rejected", "unsubscribes"):
        den = RATES[metric]
        result = difference_p([(v[metric], v[den]) for v in variants])
        tests[metric] = ({"p_value": round(result[0], 6), "test": result[1],
                          "p_adjusted": round(result[0], 6),
                          "significant": result[0] < ALPHA} if result else
                         {"p_value": None, "test": None, "p_adjusted": None,
                          "significant": False})
    # The primary metrics are one family: significance on their adjusted p-values.
    tested = [m for m in PRIMARY if tests[m]["p_value"] is not None]
    for metric, p in zip(tested, adjusted([tests[m]["p_value"] for m in tested]), strict=True):
        tests[metric]["p_adjusted"] = round(p, 6)
        tests[metric]["significant"] = p < ALPHA
    control = variants[0]
    for v in variants[1:]:
        raw = {}
        for metric in PRIMARY:
            den = RATES[metric]
            result = difference_p([(control[metric], control[den]), (v[metric], v[den])])
            v["vs_control"][metric] = round(result[0], 6) if result else None
            if result:
                raw[metric] = result[0]
        v["significant"] = any(p < ALPHA for p in adjusted(list(raw.values())))
    small = [f"{v['name']} ({v['decided']} decided, {v['sent']} sent)" for v in variants
             if v["decided"] < MIN_SAMPLE or v["sent"] < MIN_SAMPLE]
    return {
        "name": experiment.name, "stage": experiment.stage,
        "description": experiment.description,
        "starts_at": experiment.starts_at, "ends_at": experiment.ends_at,
        "status": _status(experiment, now, stop is not None),
        "stopped": stop, "variants": variants, "tests": tests,
        "significant": any(tests[m]["significant"] for m in PRIMARY),
        "small_sample": bool(small),
        "warning": (f"small samples (under {MIN_SAMPLE} decided or sent per variant): "
                    f"{', '.join(small)}; intervals are wide and a 'significant' result "
                    "can still be luck" if small else None),
        "keeping_the_winner": "nothing switches itself: keep a variant by editing the policy "
                              "file (and its version and changelog); stopping only ends new "
                              "assignments",
    }
