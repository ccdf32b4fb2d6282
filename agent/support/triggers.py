"""The handoff triggers: small pure functions from one assessed customer message (plus what the
session already knows) to "hand off, and why" or "the bot may answer". Every threshold comes
from the `[support]` policy; nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from agent.support.models import Assessment, CustomerFacts, KbMatch, TriggerDecision
from agent.support.policy import SupportPolicy, Thresholds, TriggerName

if TYPE_CHECKING:  # numpy is imported when a repeat is first checked, not with the web app
    import numpy as np

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
# Words that say nothing about what the customer needs.
_FILLER = frozenset("""
a an and are as at be but by can could do does did for from has have how i i'm in is it its me
my of on or our so than that the their them then there these they this to us was we were what
when which who will with you your hi hello hey please pls thanks thank ok okay yes no yeah just
also still again any some would should get got know tell want need help there's it's i've
""".split())
_SMALLTALK = re.compile(
    r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|thanks?( you)?( so much| a lot)?|"
    r"thank you( very much)?|cheers|ok(ay)?|great|perfect|cool|got it|bye|goodbye|yes|no|yep|nope|"
    r"that('s| is) (all|it|great|helpful)|awesome)[\s!.,:)]*"
    r"(\s*(thanks?|thank you|that helped|that was helpful))?[\s!.,:)]*$",
    re.IGNORECASE,
)
_INTENT_WORDS: dict[str, tuple[str, ...]] = {
    "billing": ("invoice", "charge", "charged", "refund", "payment", "card", "billing", "receipt",
                "vat", "paid", "pay"),
    "plans": ("plan", "plans", "seat", "seats", "upgrade", "downgrade", "pricing", "price",
              "trial", "enterprise", "business"),
    "cancellation": ("cancel", "cancellation", "renew", "renewal", "terminate"),
    "account_access": ("password", "login", "log", "sign", "locked", "2fa", "two-factor",
                       "reset"),
    "security": ("sso", "saml", "security", "okta", "scim", "soc", "gdpr", "encryption", "dpa"),
    "integrations": ("salesforce", "hubspot", "slack", "integration", "sync", "crm"),
    "data_export": ("export", "csv", "download", "warehouse", "snowflake", "bigquery", "api"),
    "account": ("user", "users", "invite", "role", "roles", "permission", "owner"),
}


@cache
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def first_match(patterns: Sequence[str], text: str) -> str | None:
    """The text matched by the first pattern that matches, or None."""
    for pattern in _compiled(tuple(patterns)):
        found = pattern.search(text)
        if found:
            return found.group(0).strip()
    return None


def asks_for_human(text: str, policy: SupportPolicy) -> str | None:
    return first_match(policy.triggers.asked_for_human.patterns, text)


def churn_threat(text: str, policy: SupportPolicy) -> str | None:
    return first_match(policy.triggers.churn_threat.patterns, text)


def sensitive_topic(text: str, policy: SupportPolicy) -> tuple[str, str] | None:
    """(topic, matched phrase) of the first sensitive topic the text touches."""
    for topic, patterns in policy.triggers.sensitive_topic.topics.items():
        phrase = first_match(patterns, text)
        if phrase:
            return topic, phrase
    return None


def content_words(text: str) -> int:
    return sum(1 for w in _WORD.findall(text.lower()) if w not in _FILLER and len(w) > 1)


def is_smalltalk(text: str) -> bool:
    """Greetings, thanks and acknowledgements: answered politely, never a question or a miss."""
    return bool(_SMALLTALK.match(text)) or (content_words(text) == 0 and len(text) < 40)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    norm = (float(np.linalg.norm(a)) or 1.0) * (float(np.linalg.norm(b)) or 1.0)
    return float(np.dot(a, b)) / norm


def same_question(a: np.ndarray, b: np.ndarray, threshold: float, *,
                  texts: tuple[str, str] | None = None) -> tuple[bool, float]:
    """Whether two customer messages ask the same thing, and how alike they are.

    With their texts, the words decide first (`agent.support.paraphrase`, deterministic and
    offline, English/German/French/Spanish): different actions are never the same question,
    a shared topic is; when the words say nothing either way, the embeddings' cosine
    similarity must reach `threshold`."""
    cosine = _cosine(a, b)
    if texts is not None:
        from agent.support.paraphrase import compare

        verdict, score = compare(*texts)
        if verdict == "different":
            return False, cosine
        if verdict == "same":
            return True, max(cosine, score)
    return cosine >= threshold, cosine


def similar_earlier(current: np.ndarray, earlier: Sequence[tuple[int, np.ndarray]],
                    threshold: float, *, current_text: str | None = None,
                    earlier_texts: Sequence[str] | None = None) -> list[tuple[int, float]]:
    """Earlier messages that ask the same thing as `current`, as (message id, similarity to
    `current`): those `same_question` finds alike (by their words when the texts are given,
    else by the embeddings' cosine similarity against `threshold`), and, transitively, those
    alike to one of them (a rephrasing of a rephrasing is the same question)."""
    ids = [mid for mid, _ in earlier]
    vectors = dict(earlier)
    texts: dict[int, str] | None = None
    if current_text is not None and earlier_texts is not None:
        texts = dict(zip(ids, earlier_texts, strict=True))

    def alike(a: int | None, b: int) -> tuple[bool, float]:
        first = current if a is None else vectors[a]
        pair = None
        if texts is not None:
            pair = (current_text if a is None else texts[a], texts[b])
        return same_question(first, vectors[b], threshold, texts=pair)  # type: ignore[arg-type]

    to_current = {mid: alike(None, mid) for mid in ids}
    found = {mid for mid, (same, _) in to_current.items() if same}
    frontier = list(found)
    while frontier:
        anchor = frontier.pop()
        for mid in ids:
            if mid not in found and alike(anchor, mid)[0]:
                found.add(mid)
                frontier.append(mid)
    return [(mid, round(to_current[mid][1], 3)) for mid in ids if mid in found]


def classify_intent(text: str, matches: Sequence[KbMatch], kb_hit: bool, *,
                    sensitive: str | None, churn: bool, human: bool, smalltalk: bool) -> str:
    """The topic of the message: the sensitive topic, cancellation, the best article's category,
    keywords, else what kind of message it is."""
    if sensitive:
        return sensitive
    if churn:
        return "cancellation"
    if kb_hit and matches:
        return matches[0].article.category
    words = set(_WORD.findall(text.lower()))
    scores = {intent: len(words.intersection(keys)) for intent, keys in _INTENT_WORDS.items()}
    best = max(scores, key=lambda k: scores[k])
    if scores[best]:
        return best
    if human:
        return "human_request"
    return "smalltalk" if smalltalk else "other"


def assess(text: str, *, sentiment: float, matches: list[KbMatch],
           similar: list[tuple[int, float]], thresholds: Thresholds,
           policy: SupportPolicy) -> Assessment:
    """Measure one customer message (pure: the scores and matches are passed in)."""
    smalltalk = is_smalltalk(text)
    human = asks_for_human(text, policy)
    churn = churn_threat(text, policy)
    topic = sensitive_topic(text, policy)
    best = matches[0].similarity if matches else 0.0
    kb_hit = bool(matches) and best >= thresholds.kb_min_similarity and not smalltalk
    return Assessment(
        text=text, sentiment=sentiment, smalltalk=smalltalk, content_words=content_words(text),
        asked_for_human=human, churn_threat=churn,
        sensitive_topic=topic[0] if topic else None, sensitive_phrase=topic[1] if topic else None,
        matches=[m for m in matches if m.similarity >= thresholds.kb_min_similarity],
        best_similarity=round(best, 3), kb_hit=kb_hit, similar_earlier=similar,
        intent=classify_intent(text, matches, kb_hit, sensitive=topic[0] if topic else None,
                               churn=bool(churn), human=bool(human), smalltalk=smalltalk),
    )


def _quote(phrase: str) -> str:
    return f"“{phrase[:80]}”"


def evaluate(assessment: Assessment, *, misses_before: int, sentiment_history: Sequence[float],
             facts: CustomerFacts, thresholds: Thresholds,
             policy: SupportPolicy) -> TriggerDecision | None:
    """Which triggers fire on this message; None means the bot may answer.

    `sentiment_history` holds this bot session's customer messages, the current one last;
    `misses_before` counts the bot's consecutive misses before this message.
    """
    t = policy.triggers
    a = assessment
    fired: dict[TriggerName, str] = {}
    question = not a.smalltalk and a.content_words >= t.repeated_question.min_content_words

    if t.asked_for_human.enabled and a.asked_for_human:
        fired["asked_for_human"] = f"Customer wrote {_quote(a.asked_for_human)}"
    if t.churn_threat.enabled and a.churn_threat:
        fired["churn_threat"] = f"Customer wrote {_quote(a.churn_threat)}"
    ns = t.negative_sentiment
    if ns.enabled:
        recent = list(sentiment_history[-ns.sustained_messages:])
        average = round(sum(recent) / len(recent), 3) if recent else 0.0
        if a.sentiment <= ns.threshold:
            fired["negative_sentiment"] = (f"Message sentiment {a.sentiment:+.2f} is at or below "
                                           f"the threshold {ns.threshold:+.2f}")
        elif len(recent) >= ns.sustained_messages and average <= ns.sustained_threshold:
            fired["negative_sentiment"] = (
                f"Average sentiment of the last {len(recent)} messages {average:+.2f} is at or "
                f"below {ns.sustained_threshold:+.2f}")
    if t.sensitive_topic.enabled and a.sensitive_topic:
        fired["sensitive_topic"] = (f"{a.sensitive_topic.replace('_', ' ')}: "
                                    f"{_quote(a.sensitive_phrase or '')}")
    hv = t.high_value_account
    if hv.enabled and facts.value == "high":
        why = ", ".join(facts.value_reasons) or "high-value account"
        if hv.mode == "immediate":
            fired["high_value_account"] = f"{why}: goes straight to a person"
        elif question and not a.kb_hit:
            fired["high_value_account"] = f"{why}; the bot had no confident answer"
        elif question and a.similar_earlier:
            fired["high_value_account"] = f"{why}; asked the same question again"
        elif not a.smalltalk and a.sentiment <= hv.struggle_sentiment:
            fired["high_value_account"] = f"{why}; sentiment {a.sentiment:+.2f}"
    rq = t.repeated_question
    times = 1 + len(a.similar_earlier)
    if rq.enabled and question and times >= rq.times:
        fired["repeated_question"] = (f"Asked {times} times (similarity at least "
                                      f"{thresholds.repeat_similarity:.2f} between phrasings)")
    lc = t.low_confidence
    if lc.enabled and question and not a.kb_hit and misses_before + 1 >= lc.misses_in_a_row:
        fired["low_confidence"] = (
            f"No knowledge-base article above similarity {thresholds.kb_min_similarity:.2f} for "
            f"{misses_before + 1} questions in a row (best {a.best_similarity:.2f})")

    if not fired:
        return None
    ordered = [name for name in t.priority if name in fired]
    return TriggerDecision(trigger=ordered[0], detail=fired[ordered[0]], also=ordered[1:])
