"""What the lead asked, in their own words, made safe to quote in an email: the question from
their newest message, bounded, with links, addresses and mentions taken out, and the topic
the policy's words say it is about ([languages.words.*].question_topics)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.guardrails import assistant_instructions
from agent.language import fold
from agent.models import Signal
from agent.policy import Policy

# Lead-written properties that carry their own words, by event type.
_TEXT_PROPERTIES = {"inbound_reply": ("text",), "form_submit": ("message", "question", "comments")}
# Read at most this much of a message (a question sits near the top).
_SCAN_CHARS = 4000
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+")
_DOMAIN = re.compile(r"\b(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b(?:/\S*)?")
_MENTION = re.compile(r"<[@#!][^>]*>|(?<!\w)[@#][\w.-]+")
_MARKUP = re.compile(r"[<>`*_~|\[\]{}\\]")
_QUOTES = re.compile(r"[\"“”„«»]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_WORDS = re.compile(r"[^\W_]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class LeadQuestion:
    """The lead's question (or, when they asked none, their first sentence), quotable."""

    text: str
    is_question: bool
    topic: str | None


def lead_messages(signals: Iterable[Signal]) -> list[str]:
    """The lead's own words from their signals, newest first."""
    found: list[tuple[object, str]] = []
    for signal in signals:
        for name in _TEXT_PROPERTIES.get(signal.type, ()):
            value = signal.properties.get(name)
            if isinstance(value, str) and value.strip():
                found.append((signal.occurred_at, value[:_SCAN_CHARS]))
    found.sort(key=lambda item: item[0], reverse=True)  # type: ignore[arg-type, return-value]
    return [text for _, text in found]


def quotable(text: str, max_chars: int) -> str:
    """`text` safe to quote: no links, domains, addresses, mentions, markup or quote marks,
    one line, at most `max_chars` (cut at a word, with an ellipsis)."""
    text = _CONTROL.sub(" ", text)
    for pattern in (_URL, _EMAIL, _MENTION, _DOMAIN):
        text = pattern.sub(" ", text)
    text = _QUOTES.sub("'", _MARKUP.sub(" ", text))
    text = " ".join(text.split()).strip(" -–—:;,")
    if len(text) > max_chars:
        cut = text[:max_chars - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
        text = cut + "…"
    return text


# A greeting that opens the lead's sentence ("Hi Riley, ...", "Hola, ¿...?"): not quoted.
_GREETING = re.compile(r"^(?:hi|hello|hey|dear|hallo|guten tag|moin|hola|buenos d[ií]as|"
                       r"buenas|bonjour|salut)\b[^,.!?¿]{0,40}[,!]\s*", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    found = []
    for sentence in _SENTENCE.split(text):
        sentence = _GREETING.sub("", (sentence or "").strip())
        if "¿" in sentence:  # a Spanish question starts at its opening mark
            sentence = sentence[sentence.index("¿"):]
        if sentence:
            head = 2 if sentence.startswith("¿") else 1
            found.append(sentence[:head].upper() + sentence[head:])
    return found


def question_topic(text: str, policy: Policy, language: str | None = None) -> str | None:
    """The first topic (policy order) whose words the text uses, any language's words counted,
    the given language's first."""
    folded = " " + " ".join(_WORDS.findall(fold(text))) + " "
    words = policy.languages.words
    order = ([language] if language in words else []) + [c for c in words if c != language]
    topics: list[str] = []
    for code in order:
        for topic in words[code].question_topics:
            if topic not in topics:
                topics.append(topic)
    for topic in topics:
        for code in order:
            for word in words[code].question_topics.get(topic, ()):
                phrase = " ".join(_WORDS.findall(fold(word)))
                if phrase and f" {phrase} " in folded:
                    return topic
    return None


_AMOUNT = re.compile(r"[$€£]\s?\d|\d\s?(?:[$€£%]|usd|eur|gbp|dollars?|euros?)\b",
                     re.IGNORECASE)


def _unquotable(sentence: str, policy: Policy) -> bool:
    """Whether the sentence carries what a draft must never say: a promise only a rep may make,
    an amount, a competitor, or instructions aimed at an assistant."""
    if _AMOUNT.search(sentence) or assistant_instructions(sentence):
        return True
    folded = " ".join(_WORDS.findall(fold(sentence)))
    words = [*policy.drafting.never_quote, *policy.risks.competitor_words]
    for word in words:
        stem = " ".join(_WORDS.findall(fold(word)))
        if not stem:
            continue
        tail = r"\w*" if word.endswith("*") else ""
        if re.search(rf"(?<!\w){re.escape(stem)}{tail}(?!\w)", folded):
            return True
    return False


def lead_question(messages: Sequence[str], policy: Policy,
                  language: str | None = None) -> LeadQuestion | None:
    """The question in the lead's newest message that has one (else the newest message's first
    sentence), quotable, with its topic; None when they wrote nothing usable. A question that
    must not be quoted (`_unquotable`) comes back with empty `text`: answer its topic only."""
    limit = policy.drafting.max_quote_chars
    withheld: LeadQuestion | None = None
    for message in messages:
        for sentence in _sentences(message):
            if "?" in sentence:
                text = quotable(sentence, limit)
                if len(text) < 3:
                    continue
                topic = question_topic(text, policy, language)
                if not _unquotable(sentence, policy):
                    return LeadQuestion(text, True, topic)
                if withheld is None or (withheld.topic is None and topic is not None):
                    withheld = LeadQuestion("", True, topic)
        if withheld is not None:  # the newest message with a question decides
            return withheld
    for message in messages[:1]:
        for sentence in _sentences(message):
            text = quotable(sentence, limit)
            if len(text.split()) >= 4 and not _unquotable(sentence, policy):
                return LeadQuestion(text, False, question_topic(text, policy, language))
    return None
