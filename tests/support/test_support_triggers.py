"""The handoff triggers as pure functions: each one at its threshold edges, the cases that must
not fire, priority between them, and repeats recognised through the embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.policy import PolicyFileError
from agent.support import sentiment
from agent.support.models import ArticleRef, Assessment, CustomerFacts, KbMatch
from agent.support.policy import SupportPolicy, load_support_policy, parse_support_policy
from agent.support.triggers import (
    asks_for_human,
    assess,
    churn_threat,
    evaluate,
    is_smalltalk,
    sensitive_topic,
    similar_earlier,
)
from config.settings import DEFAULTS_DIR
from tools.embeddings import LocalHashingEmbeddings

POLICY = SupportPolicy()
# The `[support]` section to append to config/defaults/policy.toml (it states the defaults).
SUPPORT_SECTION = '''
# Support conversations: when the bot hands a customer to a person, and how fast that must go.
# Every key is optional (defaults in agent/support/policy.py); pattern lists may be overridden.
[support]
typical_wait_minutes = 5          # told to the customer when a person is on the way
claim_timeout_minutes = 10        # unclaimed this long: alert the support lead, tell the customer
# support_lead = "U0SUP0001"      # default: the first `support` member of the roster
claim_roles = ["support", "manager"]
top_k = 3                         # articles given to the answerer per question
seed_sample_kb = true             # index config/defaults/kb when the knowledge base is empty

# Cosine similarities, calibrated per embedding space (HITL_EMBEDDINGS).
[support.thresholds.local]
kb_min_similarity = 0.22          # below this the bot says it found nothing (no invention)
repeat_similarity = 0.3           # two customer messages ask the same thing
[support.thresholds.openai]
kb_min_similarity = 0.35
repeat_similarity = 0.7

[support.triggers]
# The first trigger that fires, in this order, is the recorded reason; the others are listed too.
priority = ["asked_for_human", "churn_threat", "sensitive_topic", "negative_sentiment",
            "high_value_account", "repeated_question", "low_confidence"]

[support.triggers.asked_for_human]
enabled = true

[support.triggers.churn_threat]
enabled = true

[support.triggers.negative_sentiment]   # VADER compound score, -1..1
enabled = true
threshold = -0.55                 # one message at or below
sustained_threshold = -0.35       # or the average of the last N messages at or below
sustained_messages = 3

[support.triggers.sensitive_topic]      # topics: billing_dispute, security, legal
enabled = true

[support.triggers.high_value_account]
enabled = true
mode = "on_struggle"              # or "immediate": straight to a person
min_employees = 2000
domains = []
include_target_accounts = true    # [[routing.target_accounts]] domains count as high value
struggle_sentiment = -0.05

[support.triggers.repeated_question]
enabled = true
times = 3                         # the third asking hands off
window_messages = 10
min_content_words = 2

[support.triggers.low_confidence]
enabled = true
misses_in_a_row = 2               # no article above the threshold twice in a row
'''
LOCAL = POLICY.thresholds_for("local")
HIT = KbMatch(article=ArticleRef(title="Data export", path="data-export.md",
                                 category="data_export"), passage="Use Export.", similarity=0.5)
PLAIN = CustomerFacts(email="ada@acme.io", value="standard")


def assessment(text: str = "How do I export my data?", *, score: float = 0.0,
               hit: bool = True, similar: int = 0) -> Assessment:
    return assess(text, sentiment=score, matches=[HIT] if hit else [],
                  similar=[(i, 0.5) for i in range(similar)], thresholds=LOCAL, policy=POLICY)


def decide(a: Assessment, *, misses: int = 0, history: list[float] | None = None,
           facts: CustomerFacts = PLAIN, policy: SupportPolicy = POLICY) -> Any:
    return evaluate(a, misses_before=misses, sentiment_history=history or [a.sentiment],
                    facts=facts, thresholds=LOCAL, policy=policy)


@pytest.mark.parametrize("text", [
    "Can I talk to a human?", "I want to speak with a real person", "human please",
    "Please connect me to an agent", "get me a human now", "let me chat with someone",
    "I need a person, not a bot", "stop the bot", "Can I speak to your support team?",
    "agent", "Representative!", "Is there a human I can chat with about this?",
    "Can someone from support call me instead?",
])
def test_asking_for_a_person_is_recognised(text: str) -> None:
    assert asks_for_human(text, POLICY)
    assert decide(assessment(text)).trigger == "asked_for_human"


@pytest.mark.parametrize("text", [
    "Does a human review SSO requests?", "Is there an agent field in the Salesforce sync?",
    "How do I add a person to my workspace?", "Which people can approve?",
])
def test_mentioning_people_is_not_asking_for_one(text: str) -> None:
    assert asks_for_human(text, POLICY) is None
    assert decide(assessment(text)) is None


@pytest.mark.parametrize("text", [
    "I want to cancel my subscription", "We are going to cancel if this is not fixed",
    "Fix this or we'll cancel", "we will not renew next year", "We're switching to RivalSoft",
    "We're moving to a competitor", "terminate our contract", "I'm going to leave",
    "We will take our business elsewhere",
])
def test_churn_threats_are_recognised(text: str) -> None:
    assert churn_threat(text, POLICY)
    assert decide(assessment(text)).trigger == "churn_threat"


@pytest.mark.parametrize("text", [
    "What is your cancellation policy?", "Can I cancel anytime?",
    "What happens to my data if I cancel?", "How do I move a lead to another owner?",
    "When does my plan renew?",
])
def test_questions_about_cancelling_are_not_threats(text: str) -> None:
    assert churn_threat(text, POLICY) is None


@pytest.mark.parametrize(("text", "topic"), [
    ("You charged me twice this month", "billing_dispute"),
    ("I was double-charged", "billing_dispute"),
    ("I want a refund", "billing_dispute"), ("We will file a chargeback", "billing_dispute"),
    ("I think our account was hacked", "security"), ("Is this a data breach?", "security"),
    ("There were suspicious logins last night", "security"),
    ("Our lawyer will be in touch", "legal"), ("We will sue", "legal"),
    ("This is a formal GDPR subject access request", "legal"),
])
def test_sensitive_topics_are_recognised(text: str, topic: str) -> None:
    assert sensitive_topic(text, POLICY)[0] == topic  # type: ignore[index]
    decision = decide(assessment(text))
    assert decision.trigger == "sensitive_topic" and topic.replace("_", " ") in decision.detail


@pytest.mark.parametrize("text", [
    "What is your refund policy?", "How do I set up SSO?", "Are you SOC 2 compliant?",
    "Where do I download invoices?", "How do I reset a user's password?",
    "Where is the data protection addendum?",
])
def test_ordinary_billing_and_security_questions_are_not_sensitive(text: str) -> None:
    assert sensitive_topic(text, POLICY) is None


def test_negative_sentiment_at_its_threshold_edges() -> None:
    threshold = POLICY.triggers.negative_sentiment.threshold
    assert decide(assessment(score=threshold)).trigger == "negative_sentiment"
    assert decide(assessment(score=round(threshold + 0.001, 3))) is None
    sustained = POLICY.triggers.negative_sentiment.sustained_threshold
    at_edge = [sustained, sustained, sustained]
    assert decide(assessment(score=sustained), history=at_edge).trigger == "negative_sentiment"
    above = [sustained, sustained, round(sustained + 0.03, 3)]
    assert decide(assessment(score=above[-1]), history=above) is None
    too_few = [sustained - 0.1, sustained - 0.1]
    assert decide(assessment(score=too_few[-1]), history=too_few) is None


def test_real_sentences_score_as_expected() -> None:
    angry = "This is useless and your support is a joke!!! I am furious."
    assert sentiment.score(angry) <= POLICY.triggers.negative_sentiment.threshold
    assert sentiment.score("How do I reset my password?") == 0.0
    assert sentiment.score("Thanks, that worked perfectly") > 0.5
    assert sentiment.score("This is a bit annoying") > POLICY.triggers.negative_sentiment.threshold
    assert sentiment.trend([0.2, 0.0, -0.5]) == "falling"
    assert sentiment.trend([-0.5, 0.3]) == "rising"
    assert sentiment.trend([0.1, 0.05]) == "steady" and sentiment.trend([0.1]) == "n/a"


def test_the_third_asking_hands_off_not_the_second() -> None:
    assert decide(assessment(similar=1)) is None
    decision = decide(assessment(similar=2))
    assert decision.trigger == "repeated_question" and "Asked 3 times" in decision.detail


def test_small_talk_and_short_messages_never_count_as_repeats() -> None:
    for text in ("thanks!", "ok", "Hello"):
        assert is_smalltalk(text)
        assert decide(assessment(text, similar=5, hit=False), misses=5) is None
    assert decide(assessment("pricing?", similar=5)) is None  # one content word


def test_low_confidence_after_two_misses_in_a_row() -> None:
    assert decide(assessment(hit=False), misses=0) is None
    decision = decide(assessment(hit=False), misses=1)
    assert decision.trigger == "low_confidence" and "2 questions in a row" in decision.detail
    assert decide(assessment(hit=True), misses=1) is None


def test_a_match_below_the_threshold_is_a_miss() -> None:
    weak = HIT.model_copy(update={"similarity": LOCAL.kb_min_similarity - 0.001})
    a = assess("How do I export my data?", sentiment=0.0, matches=[weak], similar=[],
               thresholds=LOCAL, policy=POLICY)
    assert not a.kb_hit and a.matches == []
    edge = HIT.model_copy(update={"similarity": LOCAL.kb_min_similarity})
    assert assess("How do I export my data?", sentiment=0.0, matches=[edge], similar=[],
                  thresholds=LOCAL, policy=POLICY).kb_hit


def test_high_value_accounts_on_struggle_and_immediately() -> None:
    big = CustomerFacts(email="cto@globex.com", employees=5000, value="high",
                        value_reasons=["5,000 employees"])
    assert decide(assessment(), facts=big) is None  # a confident answer is fine
    assert decide(assessment(hit=False), facts=big).trigger == "high_value_account"
    assert decide(assessment(similar=1), facts=big).trigger == "high_value_account"
    assert decide(assessment(score=-0.2), facts=big).trigger == "high_value_account"
    assert decide(assessment("thanks!", hit=False), facts=big) is None
    immediate = parse_support_policy(
        {"triggers": {"high_value_account": {"mode": "immediate"}}})
    decision = decide(assessment(), facts=big, policy=immediate)
    assert decision.trigger == "high_value_account" and "5,000 employees" in decision.detail


def test_priority_records_the_first_reason_and_the_others() -> None:
    text = "This is ridiculous and useless, we are going to cancel"
    decision = decide(assessment(text, score=sentiment.score(text)))
    assert decision.trigger == "churn_threat"
    assert decision.also == ["negative_sentiment"]
    reordered = parse_support_policy({"triggers": {"priority": [
        "negative_sentiment", "asked_for_human", "churn_threat", "sensitive_topic",
        "high_value_account", "repeated_question", "low_confidence"]}})
    assert decide(assessment(text, score=sentiment.score(text)),
                  policy=reordered).trigger == "negative_sentiment"


def test_every_trigger_can_be_switched_off() -> None:
    off = parse_support_policy({"triggers": {name: {"enabled": False} for name in (
        "asked_for_human", "churn_threat", "negative_sentiment", "sensitive_topic",
        "high_value_account", "repeated_question", "low_confidence")}})
    text = "I want a human, this is useless and we will cancel, and I want a refund"
    a = assess(text, sentiment=-0.9, matches=[], similar=[(1, 0.9), (2, 0.9)],
               thresholds=LOCAL, policy=off)
    assert evaluate(a, misses_before=3, sentiment_history=[-0.9] * 3,
                    facts=CustomerFacts(value="high"), thresholds=LOCAL, policy=off) is None


def test_repeats_are_found_by_meaning_not_by_string_equality() -> None:
    ef = LocalHashingEmbeddings()
    first = "How do I export my data to CSV?"
    second = "That didn't help, is there another way to export our data to a spreadsheet?"
    third = "I still cannot figure out how to get a data export"
    unrelated = ["Where are my invoices?", "How do I set up SSO with Okta?",
                 "Do you integrate with Salesforce?"]
    earlier = [(1, ef.embed_one(first)), (2, ef.embed_one(second))]
    earlier += [(10 + i, ef.embed_one(t)) for i, t in enumerate(unrelated)]
    found = similar_earlier(ef.embed_one(third), earlier, LOCAL.repeat_similarity)
    assert {mid for mid, _ in found} == {1, 2}  # 2 only through 1: a rephrasing of a rephrasing
    assert similar_earlier(ef.embed_one("How can I reset my password?"), earlier,
                           LOCAL.repeat_similarity) == []
    assert similar_earlier(np.zeros(8, dtype=np.float32), [], 0.3) == []


def test_intent_comes_from_the_article_or_the_words() -> None:
    assert assessment().intent == "data_export"
    assert assessment("I was charged twice", hit=False).intent == "billing_dispute"
    assert assessment("we will cancel our subscription", hit=False).intent == "cancellation"
    assert assessment("my invoice shows the wrong seats", hit=False).intent == "billing"
    assert assessment("human please", hit=False).intent == "human_request"


def test_the_policy_section_has_defaults_and_is_validated(tmp_path: Path) -> None:
    shipped = load_support_policy(DEFAULTS_DIR / "policy.toml")
    assert shipped.claim_timeout_minutes > 0 and shipped.triggers.repeated_question.times == 3
    custom = tmp_path / "policy.toml"
    custom.write_text('version = "x"\n[support]\nclaim_timeout_minutes = 3\n'
                      '[support.triggers.low_confidence]\nmisses_in_a_row = 4\n'
                      '[support.thresholds.local]\nkb_min_similarity = 0.3\n'
                      'repeat_similarity = 0.5\n')
    loaded = load_support_policy(custom)
    assert loaded.claim_timeout_minutes == 3
    assert loaded.triggers.low_confidence.misses_in_a_row == 4
    assert loaded.thresholds_for("local").kb_min_similarity == 0.3
    assert loaded.thresholds_for("openai") == POLICY.thresholds_for("openai")
    for bad, field in (('[support]\nclaim_timeout_minutes = -1\n', "support.claim_timeout"),
                       ('[support.triggers.churn_threat]\npatterns = ["(unclosed"]\n',
                        "support.triggers.churn_threat.patterns"),
                       ('[support]\nsurprise = 1\n', "support.surprise"),
                       ('[support.triggers]\npriority = ["churn_threat"]\n', "priority")):
        custom.write_text(bad)
        with pytest.raises(PolicyFileError, match=field.replace(".", r"\.")):
            load_support_policy(custom)


def test_the_documented_policy_section_states_the_defaults(tmp_path: Path) -> None:
    shipped = (DEFAULTS_DIR / "policy.toml").read_text(encoding="utf-8")
    if "[support]" not in shipped:
        shipped += SUPPORT_SECTION
    path = tmp_path / "policy.toml"
    path.write_text(shipped, encoding="utf-8")
    assert load_support_policy(path) == SupportPolicy()
