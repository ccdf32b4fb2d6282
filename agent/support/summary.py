"""The warm-transfer package: everything the person taking over needs so the customer never has
to repeat themselves. A pure function of what the store and the session know."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agent.support import sentiment as sentiment_mod
from agent.support.models import (
    TRIGGER_LABELS,
    CustomerFacts,
    TranscriptLine,
    TransferStatus,
    TriggerDecision,
    WarmTransfer,
)
from prompts import render

INTENT_LABELS: dict[str, str] = {
    "billing": "billing", "billing_dispute": "a billing dispute", "plans": "plans and seats",
    "cancellation": "cancellation", "account_access": "signing in", "security": "security",
    "integrations": "an integration", "data_export": "exporting data", "account": "users and roles",
    "legal": "a legal matter", "human_request": "talking to a person", "other": "a question",
    "smalltalk": "small talk",
}
_QUOTE_CHARS = 160


def intent_label(intent: str) -> str:
    return INTENT_LABELS.get(intent, intent.replace("_", " "))


def dominant_intent(intents: Sequence[str]) -> str:
    """The conversation's topic at hand-over: the latest real topic (a message that only asks
    for a person, or says thanks, refers to the one before it), else the latest intent."""
    for intent in reversed(intents):
        if intent not in ("other", "smalltalk", "human_request"):
            return intent
    return intents[-1] if intents else "other"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS - 1] + '…'}”"


def articles_tried(articles_shown: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each article the bot showed, once, with how often."""
    seen: dict[str, dict[str, Any]] = {}
    for article in articles_shown:
        key = str(article.get("path") or article.get("title"))
        entry = seen.setdefault(key, {"title": article.get("title"), "path": article.get("path"),
                                      "times_shown": 0})
        entry["times_shown"] += 1
    return list(seen.values())


def next_steps(decision: TriggerDecision, intent: str, facts: CustomerFacts,
               tried: list[dict[str, Any]], bot_could_answer: bool) -> list[str]:
    owner = f" ({facts.account_owner})" if facts.account_owner else ""
    titles = ", ".join(f"“{a['title']}”" for a in tried)
    steps: list[str] = []
    match decision.trigger:
        case "asked_for_human":
            if bot_could_answer and tried:
                steps.append(f"The bot had a confident answer ({titles}); check whether it "
                             "helped before starting over.")
            else:
                steps.append("Answer the question directly; the help center had no confident "
                             "answer.")
        case "churn_threat":
            steps += ["Acknowledge the frustration before anything else.",
                      "Find out what outcome they need and offer a call today.",
                      f"Tell the account owner{owner} about the churn risk.",
                      "Do not offer discounts or refunds without approval."]
        case "negative_sentiment":
            steps += ["Acknowledge the frustration and take ownership.",
                      f"Fix the underlying issue ({intent_label(intent)}) in this conversation."]
        case "sensitive_topic":
            if intent == "billing_dispute":
                steps += ["Check the charges in the billing system before replying.",
                          "Confirmed billing errors are refunded in full; do not promise "
                          "anything before verifying."]
            elif intent == "security":
                steps += ["Involve the security on-call now.",
                          "Ask a workspace admin to reset the affected users' sessions.",
                          "Never ask for passwords, card numbers or backup codes."]
            else:
                steps += ["Forward to legal; do not comment on liability or commitments."]
        case "high_value_account":
            steps += [f"Reply personally and quickly; tell the account owner{owner}."]
        case "repeated_question":
            steps += ["The articles shown did not help: walk through it live (offer a screen "
                      "share).", f"Flag for review: {titles}." if titles else
                      "No article covered it: consider writing one."]
        case "low_confidence":
            steps += ["No help-center article covers this: answer it, then consider writing "
                      "one."]
    for ticket in facts.open_tickets[:2]:
        steps.append(f"Check the open ticket “{ticket.get('subject') or 'untitled'}”.")
    return steps


def summarize(facts: CustomerFacts, decision: TriggerDecision, intent: str,
              customer_lines: list[TranscriptLine], answers: int, misses: int,
              tried: list[dict[str, Any]], history: list[float]) -> str:
    who = facts.name or facts.email or "The customer"
    about = [p for p in (facts.company, f"{facts.plan} plan" if facts.plan else None,
                         "high-value account" if facts.value == "high" else None) if p]
    parts = [f"{who}{' (' + ', '.join(about) + ')' if about else ''} needs help with "
             f"{intent_label(intent)}."]
    from agent.support.triggers import is_smalltalk

    asked = [line for line in customer_lines if not is_smalltalk(line.text)] or customer_lines
    if asked:
        first, last = asked[0], asked[-1]
        parts.append(f"First message: {_quote(first.text)}.")
        if last is not first:
            parts.append(f"Latest: {_quote(last.text)}.")
    parts.append(f"Handed over: {TRIGGER_LABELS[decision.trigger].lower()} "
                 f"({decision.detail}).")
    if tried:
        shown = ", ".join(f"“{a['title']}”" + (f" ×{a['times_shown']}" if a["times_shown"] > 1
                                                else "") for a in tried)
        parts.append(f"The bot answered {answers} time{'s' if answers != 1 else ''}, showing "
                     f"{shown}.")
    else:
        parts.append("The bot showed no article.")
    if misses:
        parts.append(f"It found nothing for {misses} question{'s' if misses != 1 else ''}.")
    if history:
        parts.append(f"Sentiment {history[-1]:+.2f} ({sentiment_mod.trend(history)}).")
    return " ".join(parts)


def build_warm_transfer(
    *, handoff_id: str, conversation_id: str, status: TransferStatus, decision: TriggerDecision,
    facts: CustomerFacts, transcript: list[TranscriptLine], session_lines: list[TranscriptLine],
    session_intents: list[str], sentiment_history: list[float],
    articles_shown: list[dict[str, Any]], answers: int, misses: int, bot_could_answer: bool,
    waiting_since: datetime, policy_version: str | None, agent_name: str | None = None,
    last_answer: str | None = None,
) -> WarmTransfer:
    """The package at hand-over time. `transcript` is the whole conversation; `session_lines`
    and the counters describe the bot session that ended in this transfer."""
    intent = dominant_intent(session_intents)
    customer_lines = [line for line in session_lines if line.role == "customer"]
    tried = articles_tried(articles_shown)
    history = list(sentiment_history)
    average = round(sum(history) / len(history), 3) if history else 0.0
    return WarmTransfer(
        handoff_id=handoff_id, conversation_id=conversation_id, status=status,
        summary=summarize(facts, decision, intent, customer_lines, answers, misses, tried,
                          history),
        trigger={"reason": decision.trigger, "label": decision.label, "detail": decision.detail,
                 "also": list(decision.also), "bot_could_answer": bot_could_answer},
        intent=intent,
        sentiment={"current": history[-1] if history else 0.0, "average": average,
                   "trend": sentiment_mod.trend(history), "history": history,
                   "scale": "VADER compound score, -1 (negative) to 1 (positive)"},
        customer=facts,
        bot_tried={"answers": answers, "misses": misses, "articles": tried,
                   "last_answer": last_answer},
        transcript=transcript,
        waiting_since=waiting_since,
        suggested_next_steps=next_steps(decision, intent, facts, tried, bot_could_answer),
        suggested_reply=suggested_reply(decision.trigger, intent, facts, agent_name),
        policy_version=policy_version,
    )


def suggested_reply(trigger: str, intent: str, facts: CustomerFacts, agent_name: str | None
                    ) -> str:
    topic = intent_label(intent) if intent not in ("other", "smalltalk", "human_request") \
        else None
    return render("support_suggested_reply.j2", trigger=trigger, intent=intent, topic=topic,
                  first_name=facts.first_name, agent=agent_name)
