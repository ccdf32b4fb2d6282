"""`hitl tune`'s reading of the experiments and of customer satisfaction: what the evidence
says to keep, proposed, never applied.

A threshold experiment whose variant won (a primary outcome significantly better than the
control's, without significantly more unsubscribes) becomes a proposed change in the policy
diff; a drafting variant that won is proposed in words (its instruction or template becomes the
default by a person's edit). CSAT, when the ratings table exists, is listed by path and trigger
as evidence for the support policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, inspect, select

from service.experiments_stats import PRIMARY, RATES, compare
from service.runtime import AppRuntime


@dataclass
class ExperimentAdvice:
    experiment: str
    stage: str
    winner: str | None
    advice: str
    evidence: str
    thresholds: dict[str, float]


def _rate_text(v: dict[str, Any], metric: str) -> str:
    rate = v["rates"][metric]
    if rate["rate"] is None:
        return f"{v['name']} no {RATES[metric]} yet"
    return (f"{v['name']} {v[metric]}/{rate['n']} = {rate['rate']:.0%} "
            f"[{rate['low']:.0%}-{rate['high']:.0%}]")


def experiment_advice(rt: AppRuntime) -> list[ExperimentAdvice]:
    advice = []
    for x in compare(rt):
        control = x["variants"][0]
        metric = next((m for m in PRIMARY if x["tests"][m]["significant"]), None)
        evidence = "; ".join(
            f"{m}: " + ", ".join(_rate_text(v, m) for v in x["variants"])
            + (f" (p = {x['tests'][m]['p_value']:.4f})" if x["tests"][m]["p_value"] is not None
               else "") for m in PRIMARY)
        if metric is None:
            advice.append(ExperimentAdvice(
                x["name"], x["stage"], None,
                "no significant difference yet: keep it running (or stop it and keep the policy "
                "as it is)" + (" — small samples" if x["small_sample"] else ""), evidence, {}))
            continue
        best = max(x["variants"], key=lambda v: v["rates"][metric]["rate"] or 0.0)
        worse_unsubs = (x["tests"]["unsubscribes"]["significant"] and best is not control
                        and (best["rates"]["unsubscribes"]["rate"] or 0)
                        > (control["rates"]["unsubscribes"]["rate"] or 0))
        if worse_unsubs:
            advice.append(ExperimentAdvice(
                x["name"], x["stage"], None,
                f"{best['name']} lifts {metric} but also unsubscribes: keep neither without a "
                "closer look", evidence, {}))
            continue
        if best is control:
            advice.append(ExperimentAdvice(
                x["name"], x["stage"], control["name"],
                f"the control ({control['name']}) did best on {metric}: stop the experiment and "
                "keep the policy as it is", evidence, {}))
            continue
        variant = next(v for e in rt.policy.experiments if e.name == x["name"]
                       for v in e.variants if v.name == best["name"])
        if variant.thresholds:
            what = ", ".join(f"{k} = {v:g}" for k, v in variant.thresholds.items())
            words = f"keep {best['name']}: set {what} in the policy (in the proposed diff)"
        else:
            change = (f"instruction {variant.instruction!r}" if variant.instruction else
                      f"template {variant.prompt or variant.template}")
            words = (f"keep {best['name']}: make its {change} the default (a person edits the "
                     "prompt or template and the policy), then remove the experiment")
        advice.append(ExperimentAdvice(x["name"], x["stage"], best["name"], words, evidence,
                                       dict(variant.thresholds)))
    return advice


def csat_evidence(rt: AppRuntime) -> dict[str, Any] | None:
    """Mean score and count by path (bot_only / transferred) and by trigger, when the ratings
    table (issue 19 item 4) exists; None otherwise."""
    try:
        from store.tables.feedback import SupportRating
    except ImportError:
        return None
    with rt.db.read() as session:
        if not inspect(session.get_bind()).has_table(SupportRating.__tablename__):
            return None
        def grouped(column: Any) -> dict[str, dict[str, float]]:
            rows = session.execute(select(column, func.count(), func.avg(SupportRating.score))
                                   .group_by(column)).all()
            return {str(key or "none"): {"ratings": int(n), "mean": round(float(avg), 2)}
                    for key, n, avg in rows}
        return {"by_path": grouped(SupportRating.path),
                "by_trigger": grouped(SupportRating.trigger)}


def current_value(policy: Any, path: str) -> float:
    """The number at a dotted policy path (checked at start-up to exist)."""
    node: Any = policy
    for part in path.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return float(node)
