"""The "why now" package: bounded, deterministic, its top signals, attribution, the why-now
sentence and the recommended action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from agent.context import build_context_package
from agent.policy import Policy, load_policy
from config.settings import DEFAULTS_DIR
from tests.agent.context_helpers import ADA, ada_recent, build, d, long_history, m, qual, sig, size


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULTS_DIR / "policy.toml")


# -- bounded size ------------------------------------------------------------------------------


def test_long_history_keeps_three_strongest_signals_and_a_small_package(
    policy: Policy, content_library: Any
) -> None:
    history = long_history()
    q = qual(hand_raise_event_id="demo")
    big = build(history, policy, q, library=content_library)
    small = build(ada_recent(), policy, q, library=content_library)

    assert [s.event_id for s in big.top_signals] == ["demo", "reply", "pv-last"]
    assert big.last_touch is not None and big.last_touch.event_id == "blog-0"
    assert size(big) < 4096
    assert size(big) < 2 * size(small)  # same order of magnitude as a five-event history
    assert len(big.why_now) < 400
    # The only history-dependent text is an aggregate count (pricing views in the 90-day window).
    assert big.top_signals[2].detail == (
        "Viewed https://vendor.example/pricing (8 pricing page views)"
    )


def test_shuffled_history_gives_the_same_package(policy: Policy) -> None:
    history = long_history()
    q = qual(hand_raise_event_id="demo")
    assert build(history, policy, q) == build(list(reversed(history)), policy, q)


# -- top signals -------------------------------------------------------------------------------


def test_top_signals_prefer_distinct_kinds(policy: Policy) -> None:
    signals = [
        sig("p1", "page_view", m(60), url="https://vendor.example/pricing"),
        sig("p2", "page_view", m(120), url="https://vendor.example/pricing"),
        sig("p3", "page_view", m(180), url="https://vendor.example/pricing"),
        sig("form", "form_submit", d(2), form="contact", campaign="Spring"),
        sig("integ", "page_view", d(3), url="https://vendor.example/integrations/hubspot"),
    ]
    package = build(signals, policy)
    assert [s.event_id for s in package.top_signals] == ["form", "p1", "integ"]
    assert package.top_signals[0].detail == "Submitted the contact form (campaign Spring)"
    assert package.top_signals[1].detail == (
        "Viewed https://vendor.example/pricing (3 pricing page views)"
    )
    assert [s.weight for s in package.top_signals] == sorted(
        (s.weight for s in package.top_signals), reverse=True
    )


def test_top_signals_fill_with_one_kind_when_nothing_else_is_there(policy: Policy) -> None:
    signals = [sig(f"p{i}", "page_view", m(10 * (i + 1)), url="https://vendor.example/pricing")
               for i in range(5)]
    package = build(signals, policy, qual(route="band_a"))
    assert [s.event_id for s in package.top_signals] == ["p0", "p1", "p2"]  # most recent first


def test_zero_weight_events_are_never_top_signals_but_can_be_the_last_touch(
    policy: Policy,
) -> None:
    signals = [
        sig("ancient-demo", "form_submit", d(200), form="demo"),
        sig("ticket", "support_ticket", m(5), subject="Login broken", sentiment=0.1,
            status="solved"),
        sig("consent", "consent", m(20), email_opt_in=True),
        sig("open", "email_open", d(1), campaign="Nurture"),
    ]
    package = build(signals, policy, qual(route="nurture", band="C"))
    assert [s.event_id for s in package.top_signals] == ["open"]
    assert package.last_touch is not None
    assert package.last_touch.event_id == "ticket"
    assert package.last_touch.weight == 0
    assert package.last_touch.detail == "Support ticket (solved): Login broken"


def test_details_by_type(policy: Policy) -> None:
    signals = [
        sig("demo", "form_submit", m(12), form="demo", campaign="Q4 webinar"),
        sig("pricing", "page_view", m(30), url="https://vendor.example/pricing"),
        sig("reply", "inbound_reply", m(90), text='"Sounds good."\nCan we talk Tuesday?'),
    ]
    details = {s.event_id: s.detail for s in build(signals, policy).top_signals}
    assert details == {
        "demo": "Submitted the demo form (campaign Q4 webinar)",
        "pricing": "Viewed https://vendor.example/pricing",
        "reply": "Replied: Sounds good. Can we talk Tuesday?",
    }


def test_no_signals(policy: Policy) -> None:
    package = build([], policy, qual(route="nurture", band="C"))
    assert package.top_signals == []
    assert package.last_touch is None
    assert package.source is None and package.campaign is None
    assert package.why_now.startswith("Ada Park (VP Operations, Acme) has no recent buying signals")


def test_naive_now_is_refused(policy: Policy) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_context_package(ADA, qual(), [], datetime(2026, 11, 18, 15), policy)


# -- attribution -------------------------------------------------------------------------------


def test_source_and_campaign_come_from_the_most_recent_event_carrying_them(
    policy: Policy,
) -> None:
    signals = [
        sig("first", "email_click", d(60), url="https://vendor.example/x", campaign="Spring",
            source="google"),
        sig("mid", "page_view", d(2), url="https://vendor.example/pricing", campaign="Retarget"),
        sig("demo", "form_submit", m(12), form="demo", source="linkedin"),
        sig("later", "page_view", m(5), url="https://vendor.example/pricing"),
    ]
    package = build(signals, policy)
    assert package.source == "linkedin"
    assert package.campaign == "Retarget"


def test_source_falls_back_to_the_first_touch_outside_the_window(policy: Policy) -> None:
    signals = [
        sig("first", "email_click", d(300), url="https://vendor.example/x", campaign="Launch",
            source="google"),
        sig("second", "email_click", d(200), url="https://vendor.example/y", campaign="Later",
            source="bing"),
        sig("demo", "form_submit", m(12), form="demo"),
    ]
    package = build(signals, policy)
    assert (package.source, package.campaign) == ("google", "Launch")


# -- why now and the recommendation ------------------------------------------------------------


def test_why_now_names_the_person_the_hand_raise_and_the_band(policy: Policy) -> None:
    package = build(ada_recent(), policy, qual(hand_raise_event_id="demo"))
    assert package.why_now.startswith(
        "Ada Park (VP Operations, Acme) submitted the demo form 12 minutes ago, "
        "after viewing the pricing page twice this week"
    )
    assert package.why_now.endswith("Band A, mid-market, in ICP.")
    assert package.why_now.count(".") <= 3  # one or two sentences


def test_why_now_orders_later_signals_after_the_strongest(policy: Policy) -> None:
    signals = [
        sig("demo", "form_submit", d(1), form="demo"),
        sig("pricing", "page_view", m(20), url="https://vendor.example/pricing"),
    ]
    package = build(signals, policy, qual(band="B", rising=True))
    assert package.why_now == (
        "Ada Park (VP Operations, Acme) submitted the demo form 24 hours ago, then viewed the "
        "pricing page 20 minutes ago. Band B, mid-market, in ICP, engagement rising."
    )


def test_recommended_action_without_a_library(policy: Policy) -> None:
    package = build(ada_recent(), policy, qual(hand_raise_event_id="demo"))
    action = package.recommended_action
    assert "within the SLA" in action.next_step and "two meeting times" in action.next_step
    assert action.message_angle.startswith("Demo request")
    assert action.asset is None


def test_recommended_asset_follows_the_situation(policy: Policy, content_library: Any) -> None:
    demo = build(ada_recent(), policy, qual(hand_raise_event_id="demo"), library=content_library)
    assert demo.recommended_action.asset is not None
    assert demo.recommended_action.asset.kind == "talk_track"

    pricing = [sig("pricing", "page_view", m(20), url="https://vendor.example/pricing")]
    band_a = build(pricing, policy, qual(route="band_a"), library=content_library)
    assert band_a.recommended_action.asset is not None
    assert band_a.recommended_action.asset.path == "talk-tracks/pricing-questions.md"

    reply = sig("r1", "inbound_reply", m(40), text="We are switching from PipelinePro.")
    rival = build([*ada_recent(), reply], policy, qual(hand_raise_event_id="r1"),
                  library=content_library)
    assert rival.recommended_action.asset is not None
    assert rival.recommended_action.asset.path == "talk-tracks/competitor-displacement.md"

    globex = ADA.model_copy(update={"email": "dan@globex.com", "domain": "globex.com"})
    strategic = build(ada_recent(), policy, qual(route="strategic"), lead=globex,
                      library=content_library)
    assert strategic.recommended_action.asset is not None
    assert strategic.recommended_action.asset.path == "playbooks/strategic-accounts.md"
    assert strategic.recommended_action.next_step.startswith("Account owner")

    logistics = ADA.model_copy(update={"industry": "Logistics"})
    attended = [sig("ev", "event_attended", d(1), name="Freight Ops Summit")]
    case = build(attended, policy, qual(route="band_a"), lead=logistics, library=content_library)
    assert case.recommended_action.asset is not None
    assert case.recommended_action.asset.path == "case-studies/logistics-harbor-line.md"


def test_a_failing_library_leaves_the_asset_empty(policy: Policy) -> None:
    class Broken:
        def recommend(self, query: str, kind: str | None = None, k: int = 1) -> list[Any]:
            raise RuntimeError("chroma is down")

    package = build(ada_recent(), policy, library=Broken())  # type: ignore[arg-type]
    assert package.recommended_action.asset is None
