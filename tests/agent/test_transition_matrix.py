"""The seeds' transition matrix, one test per row, on the pure policy functions (no store).

Rows as the seed page writes them: early awareness -> automated nurture; ICP fit + rising
engagement -> light human assist on "score band A OR repeated high-intent visits", 1 business
day; hand-raise -> manual outreach in 5-30 minutes; unresponsive after outreach -> recycle after
X attempts at day 7-14; not now -> long-cycle nurture, re-handoff suppressed 30-90 days;
strategic account -> same day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agent.models import Signal
from agent.policy import PolicyFileError, Recycle, load_policy
from agent.qualification import qualify
from agent.qualification.intent import high_intent_visits
from agent.qualification.scoring import held_by_suppression
from agent.sla import no_response_decision, sla_due_at
from tests.agent.qualification_helpers import NOW, POLICY, D, H, form, lead, page, sig

M = timedelta(minutes=1)


def _due(route: str, at: datetime = NOW) -> datetime | None:
    return sla_due_at(route, at, POLICY)  # type: ignore[arg-type]


# --- row 1: early awareness / unknown fit -> automated nurture -------------------------------


def test_early_awareness_stays_automated_until_pricing_or_demo_is_requested() -> None:
    unknown = lead(email="lee@gmail.com", company=None, domain=None, country=None,
                   employees=None, industry=None, title=None)
    reading = [page("https://v.example/blog/a", 2 * D), page("https://v.example/blog/b", 1 * D)]
    q = qualify(unknown, reading, NOW, POLICY)
    assert (q.route, q.band, _due(q.route)) == ("nurture", "C", None)
    for name in ("demo", "pricing"):
        asked = qualify(unknown, [*reading, form(name, 5 * M)], NOW, POLICY)
        assert asked.route == "hand_raise", name


# --- row 2: ICP fit + rising engagement -> automated + light human assist ---------------------


def _visits(*ages: timedelta, path: str = "pricing") -> list[Signal]:
    return [page(f"https://v.example/{path}", age) for age in ages]


def test_repeated_high_intent_visits_hand_off_without_band_a() -> None:
    manager = lead(title="Operations Manager")  # in ICP, no senior title: fit 75
    signals = [page("https://v.example/pricing", 4 * D), page("https://v.example/compare/x", 2 * D),
               page("https://v.example/integrations/crm", 3 * H)]
    q = qualify(manager, signals, NOW, POLICY)
    assert q.band == "B" and q.route == "band_a"
    assert _due(q.route) == NOW + D  # Wednesday 10:00 -> Thursday 10:00 (New York)


def test_band_a_with_rising_engagement_hands_off_with_one_visit_only() -> None:
    signals = [sig("event_attended", 4 * D), sig("email_click", 3 * D, url="https://v.example/w"),
               form("trial", 2 * D), page("https://v.example/pricing", 3 * H)]
    assert high_intent_visits(signals, NOW, POLICY) == 1
    q = qualify(lead(), signals, NOW, POLICY)
    assert (q.band, q.rising, q.route) == ("A", True, "band_a")


@pytest.mark.parametrize(("overrides", "signals"), [
    # two visits are not "repeated" under the conservative default of three
    ({"title": "Analyst"}, _visits(3 * D, 1 * D)),
    # three page views in one ten-minute session are one visit
    ({"title": "Analyst"}, _visits(40 * M, 35 * M, 30 * M)),
    # outside the ICP country: repeated visits stay automated
    ({"country": "BR", "title": "Analyst"}, _visits(5 * D, 3 * D, 1 * D)),
    # three weeks ago: not rising engagement any more
    ({"title": "Analyst"}, _visits(24 * D, 22 * D, 21 * D)),
    # blog pages are not high-intent pages
    ({"title": "Analyst"}, _visits(5 * D, 3 * D, 1 * D, path="blog/x")),
], ids=["two visits", "one session", "outside ICP", "not recent", "not high intent"])
def test_what_is_not_repeated_high_intent_visits(overrides: dict, signals: list[Signal]) -> None:
    q = qualify(lead(**overrides), signals, NOW, POLICY)
    assert q.route == "nurture"


def test_band_a_sla_counts_business_days() -> None:
    friday = datetime(2026, 11, 20, 16, 0, tzinfo=NOW.tzinfo)  # 11:00 in New York
    assert _due("band_a", friday) == datetime(2026, 11, 23, 16, 0, tzinfo=NOW.tzinfo)


def test_high_intent_pages_must_name_page_rules(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "config/defaults/policy.toml").read_text()
    text = text.replace('high_intent_pages = ["pricing page"', 'high_intent_pages = ["pricng page"')
    bad = tmp_path / "policy.toml"
    bad.write_text(text)
    with pytest.raises(PolicyFileError, match="pricng page"):
        load_policy(bad)


# --- row 3: hand-raise -> manual sales outreach in 5-30 minutes --------------------------------


@pytest.mark.parametrize("signal", [form("demo", 2 * M), form("contact", 2 * M),
                                    form("pricing", 2 * M), sig("inbound_reply", 2 * M, text="hi"),
                                    sig("meeting_booked", 2 * M)],
                         ids=["demo", "contact sales", "pricing", "reply", "meeting"])
def test_hand_raise_is_worked_within_5_to_30_minutes(signal: Signal) -> None:
    q = qualify(lead(), [signal], NOW, POLICY)
    assert q.route == "hand_raise"
    assert q.band == "A"  # a perfect firmographic fit who raises a hand is band A
    saturday_night = datetime(2026, 11, 22, 3, 0, tzinfo=NOW.tzinfo)
    for at in (NOW, saturday_night):
        due = _due(q.route, at)
        assert due is not None and 5 * M <= due - at <= 30 * M


def test_band_a_for_a_perfect_fit_lasts_the_whole_hand_raise_window() -> None:
    window = timedelta(hours=POLICY.routing.hand_raise_window_hours)
    q = qualify(lead(), [form("demo", window - M)], NOW, POLICY)
    assert (q.route, q.band) == ("hand_raise", "A")
    poor = qualify(lead(country="JP", employees=12, industry="Design", title="Designer"),
                   [form("demo", 5 * M)], NOW, POLICY)
    assert (poor.route, poor.band) == ("hand_raise", "C")


# --- row 4: unresponsive after outreach -> recycle to automation at day 7-14 -------------------


def _sent(*ages: timedelta) -> list[datetime]:
    return [NOW - age for age in ages]


def test_no_connect_after_the_attempts_recycles_inside_day_7_to_14() -> None:
    rule = POLICY.recycle
    assert rule.no_response_after_days == 7 and rule.no_response_by_days == 14
    decision = no_response_decision(_sent(10 * D, 6 * D), [], NOW, POLICY)
    assert (decision.outcome, decision.attempts, decision.replies) == ("recycle", 2, 0)
    early = no_response_decision(_sent(3 * D, 1 * D), [], NOW, POLICY)
    assert early.outcome == "wait" and early.next_check_at == NOW + 4 * D  # day 7


def test_a_single_attempt_is_recycled_when_day_14_passes() -> None:
    waiting = no_response_decision(_sent(8 * D), [], NOW, POLICY)
    assert waiting.outcome == "wait" and waiting.next_check_at == NOW + 6 * D  # day 14
    assert no_response_decision(_sent(14 * D), [], NOW, POLICY).outcome == "recycle"


def test_the_last_attempt_gets_time_to_be_answered() -> None:
    decision = no_response_decision(_sent(8 * D, 1 * D), [], NOW, POLICY)
    assert decision.outcome == "wait" and decision.next_check_at == NOW + 1 * D


@pytest.mark.parametrize("connect", [sig("inbound_reply", 1 * D, text="yes"),
                                     sig("meeting_booked", 2 * H)], ids=["reply", "meeting"])
def test_a_connect_after_the_first_attempt_stops_the_recycle(connect: Signal) -> None:
    decision = no_response_decision(_sent(12 * D, 9 * D), [connect], NOW, POLICY)
    assert (decision.outcome, decision.replies) == ("connected", 1)


def test_opens_clicks_and_older_replies_are_not_a_connect() -> None:
    noise = [sig("email_open", 9 * D), sig("email_click", 8 * D, url="https://v.example/x"),
             sig("inbound_reply", 20 * D, text="before the outreach")]
    assert no_response_decision(_sent(12 * D, 9 * D), noise, NOW, POLICY).outcome == "recycle"
    assert no_response_decision([], noise, NOW, POLICY).outcome == "wait"


def test_the_recycle_window_is_validated() -> None:
    with pytest.raises(ValueError, match="no_response_by_days"):
        Recycle(no_response_after_days=14, no_response_by_days=7)
    with pytest.raises(ValueError):
        Recycle(no_response_attempts=0)


# --- row 5: not now -> automated long-cycle nurture, re-handoff suppressed 30-90 days ---------


def test_not_now_suppresses_re_handoff_for_30_to_90_days() -> None:
    rule = POLICY.dispositions["not_now"]
    assert 30 <= rule.suppress_days <= 90
    assert rule.stage == "recycled" and rule.nurture_track  # a long-cycle nurture track
    until = NOW + timedelta(days=rule.suppress_days)
    hot = [sig("event_attended", 4 * D), *_visits(3 * D, 2 * D, 1 * D)]
    assert qualify(lead(), hot, NOW, POLICY).route == "band_a"
    held = qualify(lead(), hot, NOW, POLICY, suppressed_until=until, suppression_reason="not_now")
    assert held.route == "nurture"  # the band stays what it is; only the route waits
    account = lead(email="dan@globex.com", domain="globex.com")
    assert qualify(account, hot, NOW, POLICY, suppressed_until=until,
                   suppression_reason="not_now").route == "nurture"
    after = qualify(lead(), hot, NOW, POLICY, suppressed_until=NOW - D,
                    suppression_reason="not_now")
    assert after.route == "band_a"


def test_the_leads_own_hand_raise_overrides_only_where_the_policy_says() -> None:
    until = NOW + 30 * D
    demo = [form("demo", 5 * M)]
    assert qualify(lead(), demo, NOW, POLICY, suppressed_until=until,
                   suppression_reason="not_now").route == "hand_raise"
    assert not POLICY.dispositions["duplicate"].hand_raise_overrides
    assert held_by_suppression("hand_raise", NOW, POLICY, suppressed_until=until,
                               suppression_reason="duplicate")
    assert not held_by_suppression("nurture", NOW, POLICY, suppressed_until=until,
                                   suppression_reason="not_now")


# --- row 6: strategic account (ABM) -> same day ------------------------------------------------


def test_target_account_activity_is_worked_the_same_day_by_its_owner() -> None:
    account = lead(email="ravi@globex.com", domain="globex.com", title="Architect")
    q = qualify(account, [page("https://v.example/integrations/sap", 1 * H)], NOW, POLICY)
    assert (q.route, q.strategic_owner) == ("strategic", "U0REP0002")
    due = _due(q.route)
    assert due is not None and due.date() == NOW.date() and due > NOW
    late = NOW.replace(hour=21, minute=30)  # 16:30 in New York: due at today's close
    assert _due("strategic", late) == NOW.replace(hour=22, minute=0)
    quiet = qualify(account, [sig("support_ticket", 1 * H, sentiment=0.1)], NOW, POLICY)
    assert quiet.route == "nurture"  # a support ticket is no buying-group activity
