"""Qualification's verdict: the transition matrix (routes and owners), the score and the bands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from agent.models import Signal
from agent.policy import Bands
from agent.qualification import qualify
from agent.qualification.scoring import band_for
from tests.agent.qualification_helpers import NOW, POLICY, D, H, form, lead, page, sig

# --- the transition matrix -------------------------------------------------------------------


def _engaged_this_week() -> list[Signal]:
    # About 46 points of decayed intent, all in the last 3 days: band A for a full-fit lead.
    return [page("https://v.example/pricing", 1 * D), page("https://v.example/demo", 1 * D),
            page("https://v.example/compare/x", 2 * D),
            page("https://v.example/integrations", 2 * D),
            sig("event_attended", 3 * D), sig("email_click", 1 * D, url="https://v.example/b")]


def _engaged_last_week_only() -> list[Signal]:
    # Heavy activity 8 days ago (enough for band A) and one light touch since: not rising.
    old = 8 * D
    return [sig("event_attended", old), page("https://v.example/pricing", old),
            page("https://v.example/pricing/a", old), page("https://v.example/pricing/b", old),
            page("https://v.example/demo", old), page("https://v.example/demo/2", old),
            page("https://v.example/compare", old), page("https://v.example/integrations", old),
            sig("email_click", old), sig("email_click", old),
            page("https://v.example/pricing", 1 * D)]


MATRIX = [
    # (case, lead overrides, signals, route, band)
    ("early awareness -> nurture", {},
     [page("https://v.example/blog/revops", 2 * D), sig("email_open", 1 * D)], "nurture", "B"),
    ("early awareness, weak fit -> nurture", {"employees": 40, "title": "Analyst"},
     [page("https://v.example/blog/revops", 2 * D), sig("email_open", 1 * D)], "nurture", "C"),
    ("no signals at all -> nurture", {}, [], "nurture", "B"),
    ("ICP fit + rising engagement -> band_a", {}, _engaged_this_week(), "band_a", "A"),
    ("band A but not rising -> nurture", {}, _engaged_last_week_only(), "nurture", "A"),
    ("band A and rising but outside ICP country -> nurture",
     {"country": "BR"}, _engaged_this_week() * 2, "nurture", "A"),
    # A perfect fit who raises a hand is band A for the whole hand-raise window (issue 18).
    ("demo form -> hand_raise", {}, [form("demo", 10 * timedelta(minutes=1))], "hand_raise", "A"),
    ("contact form -> hand_raise", {}, [form("contact", 2 * H)], "hand_raise", "A"),
    ("pricing form -> hand_raise", {}, [form("pricing", 70 * H)], "hand_raise", "A"),
    ("inbound reply -> hand_raise", {}, [sig("inbound_reply", 1 * H, text="hi")],
     "hand_raise", "A"),
    ("meeting booked -> hand_raise", {}, [sig("meeting_booked", 1 * D)], "hand_raise", "A"),
    ("hand-raise from a weak-fit lead is still hand_raise",
     {"country": "BR", "employees": 10, "industry": "Food", "title": "Baker"},
     [form("demo", 1 * H)], "hand_raise", "C"),
    # Past the window it is no longer a hand-raise; a perfect fit with that request this week
    # is still band A with rising engagement: the light-assist row.
    ("stale demo form (older than the window) -> not hand_raise", {},
     [form("demo", 73 * H)], "band_a", "A"),
    ("stale inbound reply -> not hand_raise", {},
     [sig("inbound_reply", 4 * D)], "nurture", "B"),
    ("content form is not a hand-raise", {}, [form("content", 1 * H)], "nurture", "B"),
    ("target account with engagement -> strategic",
     {"email": "dan.li@globex.com", "domain": "globex.com", "employees": 5200},
     [sig("email_click", 3 * H, url="https://v.example/blog")], "strategic", "B"),
    ("target account by subdomain email -> strategic",
     {"email": "dan@eu.globex.com", "domain": None}, [page("https://v.example/blog", 1 * D)],
     "strategic", "B"),
    ("target account without engagement -> nurture",
     {"email": "dan.li@globex.com", "domain": "globex.com"}, [sig("unsubscribe", 1 * D)],
     "nurture", "B"),
    ("disqualified wins over a hand-raise",
     {"email": "spy@rivalsoft.com", "domain": "rivalsoft.com"}, [form("demo", 1 * H)],
     "disqualified", "disqualified"),
    ("disqualified wins over a target account",
     {"email": "dan@globex.com", "domain": "globex.com", "title": "Summer Intern"},
     [page("https://v.example/pricing", 1 * H)], "disqualified", "disqualified"),
]


@pytest.mark.parametrize(("overrides", "signals", "route", "band"),
                         [row[1:] for row in MATRIX], ids=[row[0] for row in MATRIX])
def test_transition_matrix(overrides: dict[str, Any], signals: list[Signal], route: str,
                           band: str) -> None:
    q = qualify(lead(**overrides), signals, NOW, POLICY)
    assert (q.route, q.band) == (route, band)
    assert q.policy_version == POLICY.version
    assert q.needs_human == (route in ("hand_raise", "strategic", "band_a"))


def test_hand_raise_records_the_latest_hand_raise_event() -> None:
    older, newer = form("pricing", 5 * H), sig("inbound_reply", 1 * H)
    q = qualify(lead(), [older, newer, form("content", 10 * timedelta(minutes=1))], NOW, POLICY)
    assert q.route == "hand_raise"
    assert q.hand_raise_event_id == newer.event_id


def test_strategic_records_the_named_owner() -> None:
    q = qualify(lead(email="dan.li@globex.com", domain="globex.com"),
                [page("https://v.example/blog", 1 * D)], NOW, POLICY)
    assert q.route == "strategic"
    assert q.strategic_owner == "U0REP0002"
    assert q.hand_raise_event_id is None
    other = qualify(lead(email="bo@initech.com", domain="initech.com"),
                    [page("https://v.example/blog", 1 * D)], NOW, POLICY)
    assert other.strategic_owner == "U0REP0001"


def test_hand_raise_at_a_target_account_keeps_the_account_owner() -> None:
    q = qualify(lead(email="dan.li@globex.com", domain="globex.com"), [form("demo", 1 * H)],
                NOW, POLICY)
    assert q.route == "hand_raise"
    assert q.strategic_owner == "U0REP0002"


def test_non_target_lead_has_no_strategic_owner() -> None:
    q = qualify(lead(), _engaged_this_week(), NOW, POLICY)
    assert q.route == "band_a"
    assert q.strategic_owner is None
    assert q.rising is True


def test_disqualified_lead_lists_its_disqualifiers_and_keeps_a_score() -> None:
    q = qualify(lead(email="quick@mailinator.com"), [form("contact", 1 * H)], NOW, POLICY)
    assert q.route == "disqualified"
    assert [d.code for d in q.disqualifiers] == ["throwaway_domain"]
    assert q.score == pytest.approx(0.4 * 100 + 0.6 * 50, abs=0.1)


# --- score and bands ---------------------------------------------------------------------


def test_score_blends_fit_and_intent_by_fit_share() -> None:
    q = qualify(lead(), [form("demo")], NOW, POLICY)
    assert q.fit.score == 100
    assert q.intent == pytest.approx(50)
    assert q.score == 0.4 * 100 + 0.6 * 50


def test_score_rounds_to_one_decimal() -> None:
    q = qualify(lead(), [page("https://v.example/pricing", 3 * D)], NOW, POLICY)
    assert q.score == round(40 + 0.6 * 10 * 0.5 ** (3 / 14), 1)
    assert q.score == 45.2


def test_intent_is_capped_in_the_score() -> None:
    flood = [form("demo", i * H) for i in range(1, 20)]
    q = qualify(lead(), flood, NOW, POLICY)
    assert q.intent > 100
    assert q.score == 100.0
    capped = POLICY.model_copy(update={"scoring": POLICY.scoring.model_copy(
        update={"intent_cap": 50})})
    assert qualify(lead(), flood, NOW, capped).score == 40 + 0.6 * 50


@pytest.mark.parametrize(("score", "band"), [
    (100.0, "A"), (65.0, "A"), (64.9, "B"), (40.0, "B"), (39.9, "C"), (0.0, "C"),
])
def test_band_thresholds_at_the_edges(score: float, band: str) -> None:
    assert band_for(score, POLICY) == band


@pytest.mark.parametrize(("a", "b", "band"), [(40, 20, "A"), (40.1, 20, "B"), (60, 40.1, "C")])
def test_band_edges_through_qualify(a: float, b: float, band: str) -> None:
    # A full-fit lead with no signals scores exactly 40.0.
    policy = POLICY.model_copy(update={"bands": Bands(A=a, B=b)})
    q = qualify(lead(), [], NOW, policy)
    assert q.score == 40.0
    assert q.band == band


def test_qualify_refuses_a_naive_clock() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        qualify(lead(), [], NOW.replace(tzinfo=None), POLICY)
