"""Checks for the transition-matrix rows no single verdict shows: the no-response recycle after
outreach (seed row 4) and the suppression window a disposition sets (seed row 5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from evals.cases import LeadCase, parse_ago
from evals.checks import CheckResult

if TYPE_CHECKING:
    from agent.models import Signal
    from agent.policy import Policy


def recycle_check(case: LeadCase, signals: Sequence[Signal], policy: Policy) -> CheckResult:
    """The no-response recycle decision at the case's clock, for its sent outreach emails."""
    check = CheckResult("recycle")
    sent = [case.clock - parse_ago(a) for a in (case.state.outreach_sent if case.state else [])]
    try:
        from agent.sla import no_response_decision  # type: ignore[attr-defined]
    except ImportError:
        check.fail("no no-response recycle rule (agent.sla.no_response_decision)")
        return check
    got = no_response_decision(sent, signals, case.clock, policy).outcome
    check.detail["decision"] = got
    if got != case.expect.recycle:
        check.fail(f"expected {case.expect.recycle}, got {got}")
    return check


def suppression_check(case: LeadCase, policy: Policy) -> CheckResult:
    """The disposition the case records suppresses re-handoff for the expected span of days
    and returns the lead to a nurture track."""
    check = CheckResult("suppression")
    code = case.state.disposition if case.state else None
    rule = policy.dispositions.get(code) if code else None  # type: ignore[call-overload]
    low, high = case.expect.suppress_days_within or (0, 0)
    if rule is None:
        check.fail(f"no disposition rule for {code!r}")
    elif not low <= rule.suppress_days <= high:
        check.fail(f"{code} suppresses {rule.suppress_days} days, expected {low}-{high}")
    elif not rule.nurture_track:
        check.fail(f"{code} returns the lead to no nurture track")
    return check
