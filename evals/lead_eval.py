"""Lead cases through the real policy, context and drafting functions, scored against expectations.

Each case runs exactly what `service.leads` and the graph run for a lead at the case's clock:
`qualify`, `sla_due_at`, `choose_owner` (a manager when nobody fits), `build_context_package`
and, for a human route, the drafter. Nothing here reads the code's answers back as expectations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from evals.cases import HUMAN_ROUTES, LeadCase, parse_ago
from evals.checks import (
    CheckResult,
    GuardrailRules,
    grounding_check,
    guardrail_check,
    mention_check,
)
from evals.draft_facts import draft_facts
from evals.matrix_checks import recycle_check, suppression_check

if TYPE_CHECKING:
    from agent.drafting import Drafter
    from agent.models import LeadProfile, Signal
    from agent.policy import Member, Policy, Roster
    from tools.content_library import ContentLibrary

ROUTES = ("hand_raise", "strategic", "band_a", "nurture", "disqualified")
BANDS = ("A", "B", "C", "disqualified")
Progress = Callable[[str], None]


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else None


def profile_for(case: LeadCase) -> LeadProfile:
    from agent.models import LeadProfile

    lead = case.lead
    return LeadProfile(
        lead_id=f"lead-{case.id}", email=str(lead["email"]).strip().lower(),
        **{k: lead.get(k) for k in ("first_name", "last_name", "company", "title", "domain",
                                     "country", "employees", "industry", "timezone")},
    )


def signals_for(case: LeadCase) -> list[Signal]:
    from agent.models import Signal

    return [Signal(event_id=e["event_id"], type=e["type"], occurred_at=e["occurred_at"],
                   properties=e["properties"]) for e in case.expanded_events()]


def stored_flags(case: LeadCase, signals: Sequence[Signal]) -> dict[str, Any]:
    """The lead's stored flags as ingestion would leave them (unsubscribe, consent), plus the
    case's own `state` (suppression, set by an earlier disposition)."""
    unsubscribed_at: datetime | None = None
    consent: bool | None = None
    for signal in signals:  # oldest first, like the ingest worker applies them
        if signal.type == "unsubscribe":
            unsubscribed_at = signal.occurred_at
            consent = False
        elif signal.type == "consent" and "email_opt_in" in signal.properties:
            consent = bool(signal.properties["email_opt_in"])
            if consent and unsubscribed_at and signal.occurred_at > unsubscribed_at:
                unsubscribed_at = None
    state = case.state
    suppressed_until = None
    if state is not None:
        if state.unsubscribed:
            unsubscribed_at = unsubscribed_at or case.clock
        if state.consent is not None:
            consent = state.consent
        if state.suppressed_days:
            suppressed_until = case.clock + timedelta(days=state.suppressed_days)
    return {"unsubscribed": unsubscribed_at is not None, "consent": consent,
            "suppressed_until": suppressed_until}


def owner_for(lead: LeadProfile, qualification: Any, roster: Roster, policy: Policy
              ) -> Member | None:
    """Who the service would assign on an empty team: the policy's choice, else a manager."""
    if qualification.route not in HUMAN_ROUTES:
        return None
    from agent.routing import choose_owner

    chosen = choose_owner(lead, qualification, roster, policy, {}, {})
    if chosen is not None:
        return chosen
    managers = [m for m in roster.managers() if not m.out_of_office] or roster.managers()
    return managers[0] if managers else None


def other_people(cases: Iterable[LeadCase]) -> dict[str, set[str]]:
    """For each case, the personal data of every *other* case's lead (emails, full names,
    companies), which its draft must never contain."""
    people: dict[str, set[str]] = {}
    cases = list(cases)
    for case in cases:
        lead = case.lead
        items = {str(lead["email"]).lower()}
        full = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
        if " " in full:
            items.add(full)
        company = str(lead.get("company") or "")
        if len(company) >= 4 and company.lower() not in ("none", "n/a"):
            items.add(company)
        people[case.id] = items
    mine = {c.id: {str(c.lead.get("company") or "").lower(), str(c.lead["email"]).lower()}
            for c in cases}
    return {
        case.id: {p for other, items in people.items() if other != case.id for p in items
                  if p.lower() not in mine[case.id]}
        for case in cases
    }


def package_text(package: dict[str, Any]) -> str:
    """What the rep reads on the card: why now, next step, angle and risks."""
    action = package.get("recommended_action") or {}
    parts = [package.get("why_now") or "", action.get("next_step") or "",
             action.get("message_angle") or ""]
    parts += [r.get("detail") or "" for r in package.get("risks") or []]
    return "\n".join(parts)


def run_lead_case(
    case: LeadCase,
    *,
    policy: Policy,
    roster: Roster,
    library: ContentLibrary | None,
    drafter: Drafter,
    rules: GuardrailRules,
    others: set[str],
) -> dict[str, Any]:
    """Run one case and score it. Never raises for a product error: that is a failed case."""
    from agent.context import build_context_package
    from agent.drafting import DraftRequest
    from agent.drafting.inputs import draft_inputs
    from agent.gates import handoff_gate
    from agent.qualification import qualify
    from agent.sla import sla_due_at

    now = case.clock
    expect = case.expect
    result: dict[str, Any] = {"id": case.id, "dataset": "leads", "title": case.title,
                              "tags": list(case.tags), "why": case.why,
                              "expected": expect.model_dump(mode="json", exclude_defaults=True)}
    checks: dict[str, CheckResult] = {}
    try:
        lead = profile_for(case)
        signals = signals_for(case)
        flags = stored_flags(case, signals)
        reason = case.state.suppression_reason if case.state else None
        if case.state is not None and case.state.disposition:
            rule = policy.dispositions[case.state.disposition]  # type: ignore[index]
            reason = case.state.disposition
            flags["suppressed_until"] = now + timedelta(days=rule.suppress_days)
        qualification = qualify(lead, signals, now, policy,
                                suppressed_until=flags["suppressed_until"],
                                suppression_reason=reason)
        handoff = handoff_gate(qualification, new_event_ids={s.event_id for s in signals},
                               previous_route=None, has_active_handoff=False,
                               suppressed_until=flags["suppressed_until"],
                               suppression_reason=reason, now=now, policy=policy).start
        owner = owner_for(lead, qualification, roster, policy)
        due = sla_due_at(qualification.route, now, policy, tz=owner.timezone if owner else None)
        package = build_context_package(lead, qualification, signals, now, policy, library,
                                        suppression_reason=reason, **flags)
        draft = None
        if handoff:
            # As the handoff port asks: in the lead's language, with their question and two
            # meeting times in the owner's hours (agent.drafting.inputs).
            inputs = draft_inputs(lead, signals, policy, now, owner.timezone if owner else None)
            draft = drafter.draft(DraftRequest(
                lead=lead, context=package, sender_name=owner.name if owner else "The team",
                **inputs))
    except Exception as exc:  # a crash on a known case is a failure to report, not to hide
        result.update(passed=False, error=f"{type(exc).__name__}: {exc}",
                      failures=[f"error: {type(exc).__name__}: {exc}"], checks={}, actual={})
        return result

    package_json = package.model_dump(mode="json")
    actual = {
        "band": qualification.band, "route": qualification.route, "score": qualification.score,
        "intent": qualification.intent, "fit": qualification.fit.score,
        "rising": qualification.rising,
        "disqualifiers": [d.code for d in qualification.disqualifiers],
        "sla_due_at": _iso(due), "owner": owner.key if owner else None,
        "top_signals": [s.event_id for s in package.top_signals],
        "risks": [r.code for r in package.risks],
        "why_now": package.why_now, "next_step": package.recommended_action.next_step,
        "events": len(signals), "package": package_json,
        "draft": ({"subject": draft.subject, "body": draft.body, "source": draft.source,
                   "prompt_version": draft.prompt_version,
                   "sender": owner.name if owner else "The team"} if draft else None),
    }
    actual["handoff"] = handoff
    result["actual"] = actual

    def equal(name: str, expected: Any, got: Any) -> None:
        check = CheckResult(name)
        if expected != got:
            check.fail(f"expected {expected}, got {got}")
        checks[name] = check

    equal("route", expect.route, qualification.route)
    if expect.band is not None:
        equal("band", expect.band, qualification.band)
    equal("disqualifiers", sorted(expect.disqualifiers or []),
          sorted(d.code for d in qualification.disqualifiers))
    if expect.sla_within is not None:
        check = CheckResult("sla")
        low, high = (now + parse_ago(d) for d in expect.sla_within)
        if due is None or not low <= due <= high:
            check.fail(f"expected due between {_iso(low)} and {_iso(high)}, got {_iso(due)}")
        checks["sla"] = check
    else:
        equal("sla", _iso(expect.sla_due_at), _iso(due))
    if expect.owner is not None:
        equal("owner", expect.owner, owner.key if owner else None)
    if expect.risks is not None:
        equal("risks", sorted(expect.risks), sorted({r.code for r in package.risks}))
    equal("handoff", expect.handoff, handoff)
    if expect.recycle is not None:
        checks["recycle"] = recycle_check(case, signals, policy)
    if expect.suppress_days_within is not None:
        checks["suppression"] = suppression_check(case, policy)

    if expect.top_signals is not None:
        check = CheckResult("top_signals")
        got = [s.event_id for s in package.top_signals]
        if expect.top_signals:
            missing = [e for e in expect.top_signals if e not in got]
            recall = 1 - len(missing) / len(expect.top_signals)
            if missing:
                check.fail(f"missing {', '.join(missing)} (top 3: {', '.join(got) or 'none'})")
        else:
            recall = 1.0 if not got else 0.0
            if got:
                check.fail(f"expected no top signals, got {', '.join(got)}")
        check.detail["recall"] = round(recall, 4)
        checks["top_signals"] = check

    text = f"{draft.subject}\n{draft.body}" if draft else ""
    if expect.must_mention or expect.must_not_mention:
        if draft is None and expect.must_mention:
            check = CheckResult("mentions")
            check.fail("no draft to check (the lead did not reach a human)")
            checks["mentions"] = check
        elif draft is not None:
            checks["mentions"] = mention_check("mentions", text, expect.must_mention,
                                               expect.must_not_mention)
    if expect.package_must_mention or expect.package_must_not_mention:
        checks["package_mentions"] = mention_check(
            "package_mentions", package_text(package_json), expect.package_must_mention,
            expect.package_must_not_mention)

    if draft is not None:
        event_types = {s.event_id: s.type for s in signals}
        checks["grounding"] = grounding_check(
            draft.subject, draft.body, {**package_json, "request": draft_facts(inputs, draft)},
            lead=lead.model_dump(),
            sender_name=owner.name if owner else "The team", known_event_ids=set(event_types),
            known_event_types=event_types)
        checks["guardrails"] = guardrail_check(
            draft.subject, draft.body, rules, other_people=others, event_ids=set(event_types),
            allowed_links=package.model_dump_json())
    result["checks"] = {name: c.as_dict() for name, c in checks.items()}
    result["failures"] = [f"{name}: {p}" for name, c in checks.items() for p in c.problems]
    result["passed"] = all(c.passed for c in checks.values())
    return result


# --- aggregation ------------------------------------------------------------------------------


def _rate(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def confusion(results: Sequence[dict[str, Any]], field: str, labels: Sequence[str]
              ) -> dict[str, Any]:
    """Rows = expected, columns = actual, over cases that state an expectation for `field`."""
    matrix = {e: dict.fromkeys(labels, 0) for e in labels}
    extra: Counter[str] = Counter()
    for r in results:
        expected = r["expected"].get(field)
        got = (r.get("actual") or {}).get(field)
        if expected is None:
            continue
        if expected in matrix and got in matrix[expected]:
            matrix[expected][got] += 1
        else:
            extra[f"{expected}->{got}"] += 1
    return {"labels": list(labels), "matrix": [[matrix[e][a] for a in labels] for e in labels],
            "other": dict(extra)}


def check_rate(results: Sequence[dict[str, Any]], name: str) -> float | None:
    return _rate([r["checks"][name]["passed"] for r in results if name in r.get("checks", {})])


def lead_metrics(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The lead section's scores over `results` (errors count as failures everywhere)."""
    ok = [r for r in results if "error" not in r]
    errors = len(results) - len(ok)

    def rate(name: str) -> float | None:
        values = [r["checks"][name]["passed"] for r in ok if name in r["checks"]]
        values += [False] * errors
        return _rate(values)

    recalls = [r["checks"]["top_signals"]["detail"]["recall"] for r in ok
               if "top_signals" in r["checks"]] + [0.0] * errors
    mentions = [all(r["checks"][n]["passed"] for n in ("mentions", "package_mentions")
                    if n in r["checks"]) for r in ok
                if "mentions" in r["checks"] or "package_mentions" in r["checks"]]
    expected_h = [bool(r["expected"]["handoff"]) for r in results]
    actual_h = [_handed_off(r) for r in results]
    tp = sum(e and a for e, a in zip(expected_h, actual_h, strict=True))
    fp = sum(a and not e for e, a in zip(expected_h, actual_h, strict=True))
    fn = sum(e and not a for e, a in zip(expected_h, actual_h, strict=True))
    return {
        "cases": len(results),
        "errors": errors,
        "passed": sum(bool(r.get("passed")) for r in results),
        "route_accuracy": rate("route"),
        "band_accuracy": rate("band"),
        "sla_accuracy": rate("sla"),
        "owner_accuracy": rate("owner"),
        "disqualifier_accuracy": rate("disqualifiers"),
        "recycle_accuracy": rate("recycle"),
        "suppression_accuracy": rate("suppression"),
        "risk_accuracy": rate("risks"),
        "top3_signal_recall": round(sum(recalls) / len(recalls), 4) if recalls else None,
        "mention_pass_rate": _rate(mentions + [False] * errors),
        "grounding_pass_rate": rate("grounding"),
        "guardrail_pass_rate": rate("guardrails"),
        "lead_handoff_precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "lead_handoff_recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "drafts": sum(1 for r in ok if r["actual"].get("draft")),
    }


def _handed_off(result: dict[str, Any]) -> bool:
    """Whether the case reached a person (the gate's answer; older runs: the route's)."""
    actual = result.get("actual") or {}
    if "handoff" in actual:
        return bool(actual["handoff"])
    return actual.get("route") in HUMAN_ROUTES


def guardrail_breakdown(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many drafts failed each guardrail check."""
    from evals.checks import GUARDRAIL_CHECKS

    counts = dict.fromkeys(GUARDRAIL_CHECKS, 0)
    for r in results:
        for name in r.get("checks", {}).get("guardrails", {}).get("detail", {}).get(
                "failed_checks", []):
            counts[name] = counts.get(name, 0) + 1
    return counts


def handoff_errors(results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Missed handoffs (a human should have had it) first, then handoffs that should not be."""
    missed, extra = [], []
    for r in results:
        expected = bool(r["expected"]["handoff"])
        actual = _handed_off(r)
        row = {"id": r["id"], "title": r["title"], "expected": r["expected"]["route"],
               "actual": (r.get("actual") or {}).get("route")}
        if expected and not actual:
            missed.append(row)
        elif actual and not expected:
            extra.append(row)
    return {"missed": missed, "unexpected": extra}
