"""Owner choice: named account owners, territory + segment, availability, round robin, fallback.

The sample roster: Riley (US/CA, mid-market+enterprise), Sam (US/CA/GB/IE, enterprise),
Eve (Europe, every segment), Max (US/CA/AU, smb+mid-market), a manager and a support agent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.models import Fit, LeadProfile, Qualification, Signal
from agent.policy import Member, Roster, load_policy, load_roster
from agent.qualification import qualify
from agent.routing import choose_owner

DEFAULTS = Path(__file__).resolve().parents[2] / "config" / "defaults"
POLICY = load_policy(DEFAULTS / "policy.toml")
ROSTER = load_roster(DEFAULTS / "team.toml")
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
RILEY, SAM, EVE, MAX = "U0REP0001", "U0REP0002", "U0REP0003", "U0REP0004"


def lead(**overrides: Any) -> LeadProfile:
    values: dict[str, Any] = dict(email="ada@acme.io", domain="acme.io", country="US",
                                  employees=850, industry="Software", title="VP Operations")
    return LeadProfile(lead_id="lead-1", **{**values, **overrides})


def verdict(route: str = "band_a", strategic_owner: str | None = None) -> Qualification:
    return Qualification(
        score=70, band="A", fit=Fit(score=100, segment="mid-market", in_icp=True, reasons=[]),
        intent=50, rising=True, disqualifiers=[], route=route,  # type: ignore[arg-type]
        strategic_owner=strategic_owner, policy_version=POLICY.version)


def roster_with(**changes: dict[str, Any]) -> Roster:
    """The sample roster with some members (by slack id) changed."""
    return Roster(members=[m.model_copy(update=changes.get(m.key, {})) for m in ROSTER.members])


def owner(lead_: LeadProfile, q: Qualification | None = None, roster: Roster = ROSTER,
          open_approvals: dict[str, int] | None = None,
          last: dict[str, datetime] | None = None) -> str | None:
    chosen = choose_owner(lead_, q or verdict(), roster, POLICY, open_approvals or {}, last)
    return chosen.key if chosen is not None else None


# --- territory and segment ---------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "candidates"), [
    ({"country": "US", "employees": 850}, {RILEY, MAX}),           # mid-market
    ({"country": "US", "employees": 5000}, {RILEY, SAM}),          # enterprise
    ({"country": "US", "employees": 50}, {MAX}),                   # smb
    ({"country": "CA", "employees": 5000}, {RILEY, SAM}),
    ({"country": "GB", "employees": 5000}, {SAM, EVE}),
    ({"country": "DE", "employees": 50}, {EVE}),
    ({"country": "us", "employees": 50}, {MAX}),                   # case-insensitive country
    ({"country": "US", "employees": None}, {RILEY, SAM, MAX}),     # size unknown: any segment
])
def test_territory_and_segment_match(overrides: dict[str, Any], candidates: set[str]) -> None:
    chosen: set[str] = set()
    last: dict[str, datetime] = {}
    # Round robin through enough assignments to see every eligible rep, and no one else.
    for i in range(6):
        key = owner(lead(**overrides), last=last)
        assert key is not None
        chosen.add(key)
        last[key] = NOW + timedelta(minutes=i)
    assert chosen == candidates


def test_fallback_to_any_rep_in_the_territory_when_no_segment_matches() -> None:
    # Australia is covered only by Max, who does not work enterprise.
    assert owner(lead(country="AU", employees=5000)) == MAX


def test_none_when_nobody_covers_the_territory() -> None:
    assert owner(lead(country="BR")) is None
    assert owner(lead(country=None)) is None


def test_managers_and_support_are_never_round_robin_owners() -> None:
    # Give the manager and support agent the US territory and take every rep out of office.
    everyone_away = {key: {"out_of_office": True} for key in (RILEY, SAM, MAX)}
    roster = roster_with(**everyone_away,
                         U0MGR0001={"territories": ["US"], "segments": ["mid-market"]},
                         U0SUP0001={"territories": ["US"], "segments": ["mid-market"]})
    assert owner(lead(), roster=roster) is None


# --- availability ------------------------------------------------------------------------


def test_out_of_office_rep_is_skipped() -> None:
    assert owner(lead()) == RILEY
    assert owner(lead(), roster=roster_with(U0REP0001={"out_of_office": True})) == MAX


def test_out_of_office_everywhere_in_the_segment_falls_back_to_the_territory() -> None:
    # US enterprise: Riley and Sam both away; Max covers the US (not enterprise) and gets it.
    roster = roster_with(U0REP0001={"out_of_office": True}, U0REP0002={"out_of_office": True})
    assert owner(lead(employees=5000), roster=roster) == MAX


def test_rep_at_capacity_is_skipped() -> None:
    cap = POLICY.routing.max_open_approvals_per_rep
    assert owner(lead(), open_approvals={RILEY: cap - 1, MAX: cap - 1}) == RILEY
    assert owner(lead(), open_approvals={RILEY: cap}) == MAX
    # Riley and Max full: Sam covers the US (enterprise only) and takes it as the fallback.
    assert owner(lead(), open_approvals={RILEY: cap + 3, MAX: cap}) == SAM
    assert owner(lead(), open_approvals={RILEY: cap + 3, MAX: cap, SAM: cap}) is None


def test_capacity_comes_from_the_policy() -> None:
    policy = POLICY.model_copy(update={"routing": POLICY.routing.model_copy(
        update={"max_open_approvals_per_rep": 2})})
    chosen = choose_owner(lead(), verdict(), ROSTER, policy, {RILEY: 2})
    assert chosen is not None and chosen.key == MAX


def test_open_approvals_may_be_keyed_by_email_for_members_without_slack() -> None:
    roster = Roster(members=[
        Member(email="a@example.com", name="A", role="rep", territories=["US"],
               segments=["mid-market"]),
        Member(email="b@example.com", name="B", role="rep", territories=["US"],
               segments=["mid-market"]),
    ])
    cap = POLICY.routing.max_open_approvals_per_rep
    chosen = choose_owner(lead(), verdict(), roster, POLICY, {"a@example.com": cap})
    assert chosen is not None and chosen.key == "b@example.com"


# --- round robin -------------------------------------------------------------------------


def test_never_assigned_reps_go_first() -> None:
    assert owner(lead(), last={RILEY: NOW}) == MAX
    assert owner(lead(), last={MAX: NOW}) == RILEY


def test_least_recently_assigned_wins() -> None:
    last = {RILEY: NOW - timedelta(hours=1), MAX: NOW - timedelta(hours=2)}
    assert owner(lead(), last=last) == MAX
    last = {RILEY: NOW - timedelta(hours=3), MAX: NOW - timedelta(hours=2)}
    assert owner(lead(), last=last) == RILEY


def test_round_robin_alternates_across_assignments() -> None:
    last: dict[str, datetime] = {}
    order = []
    for i in range(4):
        key = owner(lead(), last=last)
        assert key is not None
        order.append(key)
        last[key] = NOW + timedelta(minutes=i)
    assert order == [RILEY, MAX, RILEY, MAX]


def test_ties_go_to_fewer_open_approvals_then_key() -> None:
    assert owner(lead(), open_approvals={RILEY: 3, MAX: 1}) == MAX
    assert owner(lead(), open_approvals={RILEY: 1, MAX: 1}) == RILEY
    same_time = {RILEY: NOW, MAX: NOW}
    assert owner(lead(), open_approvals={RILEY: 4, MAX: 2}, last=same_time) == MAX


def test_naive_and_aware_last_assigned_times_compare() -> None:
    last = {RILEY: datetime(2026, 11, 18, 10), MAX: datetime(2026, 11, 18, 11, tzinfo=UTC)}
    assert owner(lead(), last=last) == RILEY


# --- named account owners ----------------------------------------------------------------


def _globex_qualification(signals: list[Signal]) -> tuple[LeadProfile, Qualification]:
    globex = lead(email="dan.li@globex.com", domain="globex.com", employees=5200)
    return globex, qualify(globex, signals, NOW, POLICY)


def test_strategic_route_goes_to_the_named_owner() -> None:
    globex, q = _globex_qualification(
        [Signal(event_id="e1", type="email_click", occurred_at=NOW - timedelta(hours=1))])
    assert q.route == "strategic"
    # Round robin would pick Riley (never assigned, lower key); the account belongs to Sam.
    assert owner(globex, q) == SAM
    assert owner(globex, q, last={SAM: NOW}) == SAM


def test_named_owner_is_not_load_balanced() -> None:
    q = verdict("strategic", strategic_owner=SAM)
    cap = POLICY.routing.max_open_approvals_per_rep
    assert owner(lead(employees=5000), q, open_approvals={SAM: cap + 10}) == SAM


def test_named_owner_found_by_email() -> None:
    q = verdict("strategic", strategic_owner="Sam@Example.com")
    assert owner(lead(), q) == SAM


def test_named_owner_out_of_office_falls_back_to_round_robin() -> None:
    q = verdict("strategic", strategic_owner=SAM)
    roster = roster_with(U0REP0002={"out_of_office": True})
    assert owner(lead(employees=5000), q, roster=roster) == RILEY


def test_named_owner_missing_from_the_roster_falls_back_to_round_robin() -> None:
    q = verdict("strategic", strategic_owner="U0GONE")
    assert owner(lead(employees=5000), q, last={RILEY: NOW}) == SAM


def test_hand_raise_at_a_target_account_goes_to_the_account_owner() -> None:
    globex, q = _globex_qualification([Signal(
        event_id="e1", type="form_submit", occurred_at=NOW - timedelta(minutes=5),
        properties={"form": "demo"})])
    assert q.route == "hand_raise"
    assert owner(globex, q) == SAM
