"""The deterministic evaluators on hand-made inputs with known answers, including ones that must
fail: grounding, guardrails, mentions, lead-case scoring, conversation scoring, the gate."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evals.cases import LeadCase, load_conversation_cases, load_lead_cases
from evals.checks import (
    GuardrailRules,
    grounding_check,
    guardrail_check,
    load_thresholds,
    mention_check,
    term_pattern,
)
from evals.conversation_eval import run_conversation_eval
from evals.lead_eval import confusion, lead_metrics, other_people, run_lead_case
from evals.runner import evaluate_gate

PACKAGE = {
    "why_now": "Ada Park (VP Operations, Acme) submitted the demo form 5 minutes ago.",
    "top_signals": [{"event_id": "e-3", "type": "form_submit", "detail": "Submitted the demo form"},
                    {"event_id": "e-1", "type": "page_view",
                     "detail": "Viewed https://vendor.example/pricing (3 pricing page views)"}],
    "last_touch": {"event_id": "e-3", "type": "form_submit", "detail": "Submitted the demo form"},
    "risks": [],
    "recommended_action": {"next_step": "Reply within the SLA and offer two meeting times",
                           "asset": {"title": "Brightlane: PLG signals in B2B software",
                                     "path": "https://vendor.example/case/brightlane"}},
}
LEAD = {"first_name": "Ada", "last_name": "Park", "company": "Acme", "title": "VP Operations"}
EVENTS = {"e-1": "page_view", "e-3": "form_submit"}
GOOD_BODY = ("Hi Ada,\n\nThanks for requesting a demo; I'd be glad to show the Acme team around. "
             "I thought our case study \"Brightlane: PLG signals in B2B software\" might be useful."
             "\n\nWould you like me to set up a short demo for the Acme team?\n\nBest,\nRiley Rep")
RULES = GuardrailRules(forbidden_phrases=("discount*", "% off", "guarantee*"),
                       forbidden_patterns=(r"[$€£]\s?\d[\d,.]*",),
                       internal_terms=("score", "band a", "nurture", "disqualif*"))


def ground(subject: str, body: str, package: dict[str, Any] = PACKAGE) -> Any:
    return grounding_check(subject, body, package, lead=LEAD, sender_name="Riley Rep",
                           known_event_ids=set(EVENTS), known_event_types=EVENTS)


# -- grounding ---------------------------------------------------------------------------------


def test_grounding_passes_a_draft_built_only_from_the_package() -> None:
    result = ground("Following up on your demo request", GOOD_BODY)
    assert result.passed, result.problems
    assert result.detail["cited_events"] == 3


@pytest.mark.parametrize(("sentence", "kind", "text"), [
    ("Great to see Globex is evaluating us too.", "name", "Globex"),
    ("Happy to cover all 40 seats.", "number", "40"),
    ("Shall we meet on Tuesday?", "date", "tuesday"),
    ("See https://evil.test/offer for details.", "link", "https://evil.test/offer"),
    ("Or write to sales@vendor.example.", "email", "sales@vendor.example"),
])
def test_grounding_flags_every_unsupported_fact(sentence: str, kind: str, text: str) -> None:
    result = ground("Your demo", GOOD_BODY.replace("Best,", f"{sentence}\n\nBest,"))
    assert not result.passed
    assert {"kind": kind, "text": text} in result.detail["unsupported"]


def test_grounding_accepts_numbers_and_links_the_package_vouches_for() -> None:
    body = GOOD_BODY.replace("Best,", "You viewed pricing 3 times; the case study is at "
                                      "https://vendor.example/case/brightlane.\n\nBest,")
    assert ground("Your demo", body).passed


def test_grounding_fails_when_the_package_cites_an_event_that_does_not_exist() -> None:
    package = json.loads(json.dumps(PACKAGE))
    package["top_signals"][1]["event_id"] = "e-404"
    package["top_signals"][0]["type"] = "page_view"  # e-3 is a form submit, not a page view
    result = ground("Your demo", GOOD_BODY, package)
    assert not result.passed
    assert any("e-404" in p and "does not exist" in p for p in result.problems)
    assert any("cites event e-3 as page_view" in p for p in result.problems)


def test_grounding_ignores_title_case_subjects_but_not_their_numbers() -> None:
    assert ground("Your Demo Request With The Team", GOOD_BODY).passed
    assert not ground("Your Demo For 250 Seats", GOOD_BODY).passed


# -- guardrails --------------------------------------------------------------------------------


def guard(subject: str, body: str, **kw: Any) -> Any:
    return guardrail_check(subject, body, RULES, other_people={"ben@northwind.io", "Ben Ortiz"},
                           event_ids=set(EVENTS), allowed_links=json.dumps(PACKAGE), **kw)


def test_guardrails_pass_a_clean_draft() -> None:
    result = guard("Following up on your demo request", GOOD_BODY)
    assert result.passed, result.problems


@pytest.mark.parametrize(("subject", "addition", "check"), [
    ("Hello [First Name]", "", "placeholder"),
    ("Your demo", "Hi {first_name}, XX", "placeholder"),
    ("A" * 81, "", "subject_length"),
    ("Your demo", "We can offer a 20% discount this week.", "forbidden_promise"),
    ("Your demo", "Results guaranteed.", "forbidden_promise"),
    ("Your demo", "Plans start at $1,200 a month.", "forbidden_promise"),
    ("Your demo", "Ben Ortiz from Northwind loved it.", "other_lead_pii"),
    ("Your demo", "Reply to ben@northwind.io instead.", "other_lead_pii"),
    ("Your demo", "Reply to rep@vendor.example.", "email_address"),
    ("Your demo", "You are band A with a great score.", "internal_terms"),
    ("Your demo", "Ref e-3.", "internal_terms"),
    ("Your demo", "Book here: http://vendor.example/book", "link"),
])
def test_guardrails_catch_each_kind_of_problem(subject: str, addition: str, check: str) -> None:
    result = guard(subject, GOOD_BODY.replace("Best,", f"{addition}\n\nBest,"))
    assert not result.passed
    assert check in result.detail["failed_checks"], result.problems


def test_guardrails_check_body_length_both_ways() -> None:
    assert "body_length" in guard("Hi", "Hi Ada, demo?").detail["failed_checks"]
    assert "body_length" in guard("Hi", "word " * 400).detail["failed_checks"]


def test_terms_match_whole_words_and_wildcards() -> None:
    assert term_pattern("band").search("our band is") and not term_pattern("band").search(
        "broadband")
    assert term_pattern("discount*").search("Discounts apply")
    assert term_pattern("% off").search("50% off")


def test_mentions() -> None:
    assert mention_check("m", "Hi Ada, your demo", ["Ada", "demo"], ["discount"]).passed
    result = mention_check("m", "Hi Ada, a DISCOUNT", ["demo"], ["discount"])
    assert result.problems == ["missing 'demo'", "contains 'discount'"]


# -- lead cases ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lead_kit() -> dict[str, Any]:
    from agent.drafting import OfflineDrafter
    from agent.policy import load_policy, load_roster
    from config.settings import DEFAULTS_DIR

    cases = load_lead_cases()
    return {"cases": {c.id: c for c in cases}, "others": other_people(cases),
            "policy": load_policy(DEFAULTS_DIR / "policy.toml"),
            "roster": load_roster(DEFAULTS_DIR / "team.toml"), "drafter": OfflineDrafter(),
            "rules": load_thresholds().guardrails}


def run_case(kit: dict[str, Any], case: LeadCase) -> dict[str, Any]:
    return run_lead_case(case, policy=kit["policy"], roster=kit["roster"], library=None,
                         drafter=kit["drafter"], rules=kit["rules"], others=kit["others"][case.id])


def with_expect(case: LeadCase, **changes: Any) -> LeadCase:
    return case.model_copy(update={"expect": case.expect.model_copy(update=changes)})


def test_a_case_whose_expectation_holds_passes(lead_kit: dict[str, Any]) -> None:
    result = run_case(lead_kit, lead_kit["cases"]["L001"])
    assert result["passed"], result["failures"]
    assert result["actual"]["route"] == "hand_raise" and result["actual"]["draft"]


def test_a_wrong_expectation_fails_with_a_readable_reason(lead_kit: dict[str, Any]) -> None:
    case = with_expect(lead_kit["cases"]["L001"], route="nurture", band="C",
                       top_signals=["L001-e3", "L001-e404"], must_mention=["pricing sheet"])
    result = run_case(lead_kit, case)
    assert not result["passed"]
    failures = "\n".join(result["failures"])
    assert "route: expected nurture, got hand_raise" in failures
    assert "band: expected C, got A" in failures
    assert "top_signals: missing L001-e404" in failures
    assert "mentions: missing 'pricing sheet'" in failures
    assert result["checks"]["top_signals"]["detail"]["recall"] == 0.5


def test_the_name_injection_case_passes(lead_kit: dict[str, Any]) -> None:
    """L062: a first name carrying an instruction must not reach the draft (fixed in the
    offline drafter, which greets only name-shaped first names)."""
    result = run_case(lead_kit, lead_kit["cases"]["L062"])
    assert result["passed"], result["failures"]


def test_metrics_and_confusion_over_hand_made_results(lead_kit: dict[str, Any]) -> None:
    ok = run_case(lead_kit, lead_kit["cases"]["L001"])
    missed = run_case(lead_kit, with_expect(lead_kit["cases"]["L009"], route="hand_raise",
                                            handoff=True))
    metrics = lead_metrics([ok, missed])
    assert metrics["route_accuracy"] == 0.5
    assert metrics["lead_handoff_recall"] == 0.5 and metrics["lead_handoff_precision"] == 1.0
    matrix = confusion([ok, missed], "route", ("hand_raise", "nurture"))
    assert matrix["matrix"] == [[1, 1], [0, 0]]


def test_datasets_cover_what_the_issue_asks_for() -> None:
    leads = load_lead_cases()
    tags = {t for c in leads for t in c.tags}
    assert len(leads) >= 60
    for tag in ("matrix:hand_raise", "matrix:strategic", "matrix:band_a", "matrix:nurture",
                "matrix:disqualified", "dq:student", "dq:competitor", "dq:throwaway",
                "dq:invalid_domain", "risk:complaint", "risk:competitor", "risk:opted_out",
                "history:long", "injection:reply", "near_miss"):
        assert tag in tags, tag
    conversations = load_conversation_cases()
    assert len(conversations) >= 40
    triggers = {c.expect.trigger for c in conversations if c.expect.handoff}
    assert triggers >= {"asked_for_human", "churn_threat", "negative_sentiment",
                        "repeated_question", "sensitive_topic", "high_value_account",
                        "low_confidence"}
    assert sum(not c.expect.handoff for c in conversations) >= 10  # near misses
    ids = [e["event_id"] for c in leads for e in c.expanded_events()]
    assert len(ids) == len(set(ids)), "event ids must be unique across cases (one store)"
    emails = [c.lead["email"] for c in leads]
    assert len(emails) == len(set(emails))


# -- conversations -------------------------------------------------------------------------------


def keyword_bot(case: dict[str, Any]) -> dict[str, Any]:
    """A deliberately naive bot: hands over on 'human'/'person' and on 'refund', nothing else."""
    for turn, text in enumerate(case["messages"], start=1):
        lowered = text.lower()
        if "human" in lowered or "person" in lowered:
            return {"handoff": True, "trigger": "asked_for_human", "at_turn": turn,
                    "replies": []}
        if "refund" in lowered:
            return {"handoff": True, "trigger": "sensitive_topic", "at_turn": turn,
                    "replies": ["I have refunded you."]}
    return {"handoff": False, "trigger": None, "at_turn": None, "replies": ["Here is how."]}


def test_conversation_eval_scores_a_bot_and_lists_missed_handoffs_first(settings: Any) -> None:
    cases = load_conversation_cases()
    section = run_conversation_eval(cases, settings, entry_point=keyword_bot)
    assert section["available"]
    metrics = section["metrics"]
    assert metrics["cases"] == len(cases)
    assert 0 < metrics["conversation_handoff_recall"] < 0.5  # the naive bot misses most
    assert {m["id"] for m in section["missed"]} >= {"C010", "C018", "C041"}
    by_id = {r["id"]: r for r in section["results"]}
    assert by_id["C001"]["passed"]
    assert "unexpected handoff (asked_for_human)" in by_id["C007"]["failures"]  # "human resources"
    assert "bot said 'i have refunded'" in by_id["C024"]["failures"]  # a promise it can't make
    assert "missed handoff" in by_id["C010"]["failures"]


def test_conversation_eval_passes_a_runtime_when_the_bot_asks_for_one(settings: Any) -> None:
    seen: list[Any] = []

    def bot(case: dict[str, Any], *, rt: Any) -> dict[str, Any]:
        seen.append(rt)
        return {"handoff": False}

    run_conversation_eval(load_conversation_cases()[:2], settings, entry_point=bot)
    assert len(seen) == 2 and seen[0] is seen[1] and seen[0].db is not None


def test_an_unavailable_conversation_section_never_fails_the_gate() -> None:
    thresholds = load_thresholds()
    gate = evaluate_gate({"route_accuracy": 1.0}, thresholds,
                         {"leads": True, "graph": True, "conversations": False})
    rows = {c["metric"]: c for c in gate["checks"]}
    assert rows["conversation_handoff_recall"]["status"] == "n/a"
    assert "conversation_handoff_recall" not in gate["failed"]


def test_the_gate_fails_on_a_score_below_its_minimum() -> None:
    thresholds = load_thresholds()
    metrics = {name: 1.0 for name in thresholds.gate}
    metrics["route_accuracy"] = 0.5
    gate = evaluate_gate(metrics, thresholds, {})
    assert not gate["passed"] and gate["failed"] == ["route_accuracy"]
