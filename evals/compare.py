"""`hitl eval --baseline RUN`: what got better and what got worse since a previous run.

Regressions come first: a check that passed in the baseline and fails now, ordered by how much
it matters (a missed handoff or a guardrail before a changed draft), each with the baseline's and
the current output side by side. Then metric deltas, improvements, and outputs that changed while
still passing (a different draft for the same case is worth a look after a prompt change).
"""

from __future__ import annotations

from typing import Any

# Most serious first: what a manager needs to see before anything else.
CHECK_ORDER = ("handoff", "route", "guardrails", "grounding", "sla", "disqualifiers", "band",
               "owner", "risks", "mentions", "package_mentions", "top_signals")
_SIDE_FIELDS = ("route", "band", "score", "sla_due_at", "owner", "disqualifiers", "risks",
                "top_signals", "why_now", "next_step")


def _checks(case: dict[str, Any]) -> dict[str, bool]:
    if case.get("error"):
        return {"error": False}
    return {name: bool(c.get("passed")) for name, c in (case.get("checks") or {}).items()}


def _side(case: dict[str, Any]) -> dict[str, Any]:
    actual = case.get("actual") or {}
    side = {k: actual.get(k) for k in _SIDE_FIELDS if k in actual}
    draft = actual.get("draft") or {}
    side["draft_subject"] = draft.get("subject")
    side["draft_body"] = draft.get("body")
    return side


def _rank(name: str) -> int:
    return CHECK_ORDER.index(name) if name in CHECK_ORDER else len(CHECK_ORDER)


def compare_runs(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The comparison section of an eval run (JSON-able)."""
    before = {c["id"]: c for c in baseline.get("cases", [])}
    after = {c["id"]: c for c in current.get("cases", [])}
    regressions, improvements, changed = [], [], []
    for case_id in sorted(set(before) & set(after)):
        old, new = before[case_id], after[case_id]
        old_checks, new_checks = _checks(old), _checks(new)
        worse = sorted((n for n, ok in new_checks.items() if not ok and old_checks.get(n, False)),
                       key=_rank)
        better = sorted(n for n, ok in new_checks.items() if ok and old_checks.get(n) is False)
        old_side, new_side = _side(old), _side(new)
        differences = [k for k in new_side if old_side.get(k) != new_side.get(k)]
        row = {"id": case_id, "title": new.get("title", ""), "checks": worse or better,
               "failures": [f for f in new.get("failures", [])
                            if f.split(":", 1)[0] in worse or f.startswith("error")],
               "baseline": old_side, "current": new_side, "differences": differences}
        if worse:
            regressions.append(row)
        elif better:
            improvements.append(row)
        elif differences:
            changed.append(row)
    regressions.sort(key=lambda r: (_rank(r["checks"][0]), r["id"]))

    metrics = []
    old_metrics = (baseline.get("metrics") or {}).get("all_cases") or {}
    new_metrics = (current.get("metrics") or {}).get("all_cases") or {}
    for name in sorted(set(old_metrics) | set(new_metrics)):
        a, b = old_metrics.get(name), new_metrics.get(name)
        if not isinstance(a, int | float) or not isinstance(b, int | float) or isinstance(
                a, bool) or name in ("cases", "errors", "drafts", "passed"):
            continue
        delta = round(b - a, 4)
        metrics.append({"metric": name, "baseline": a, "current": b, "delta": delta,
                        "direction": "worse" if delta < 0 else "better" if delta > 0 else "same"})
    metrics.sort(key=lambda m: ({"worse": 0, "better": 1, "same": 2}[m["direction"]], m["delta"]))
    old_gate = (baseline.get("gate") or {}).get("passed")
    new_gate = (current.get("gate") or {}).get("passed")
    return {
        "baseline_run_id": baseline.get("run_id"),
        "baseline_created_at": baseline.get("created_at"),
        "baseline_environment": baseline.get("environment", {}),
        "gate": {"baseline": old_gate, "current": new_gate,
                 "newly_failing": sorted(set((current.get("gate") or {}).get("failed", []))
                                         - set((baseline.get("gate") or {}).get("failed", [])))},
        "regressions": regressions,
        "improvements": improvements,
        "changed_outputs": changed,
        "metrics": metrics,
        "added_cases": sorted(set(after) - set(before)),
        "removed_cases": sorted(set(before) - set(after)),
    }
