"""Domain types of the support conversation, shared by the graph, the service and the surfaces.
Plain pydantic models, no I/O: the trigger and package functions are testable without a store."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.support.policy import TriggerName


class ConversationStatus(StrEnum):
    """Who answers a support conversation (`support_conversations.status`); the service's
    lifecycle (service/lifecycle.py) uses these, the stored text is the value."""

    BOT = "bot"
    WAITING_FOR_HUMAN = "waiting_for_human"
    HUMAN = "human"
    RESOLVED = "resolved"


class TransferStatus(StrEnum):
    """A warm transfer to a person (`support_transfers.status`); allowed changes are in
    service/lifecycle.py."""

    WAITING = "waiting"          # handed over, nobody has claimed it yet
    CLAIMED = "claimed"          # a person owns the conversation
    RESOLVED = "resolved"
    HANDED_BACK = "handed_back"  # returned to the bot


MessageRole = Literal["customer", "bot", "agent", "system"]
AnswerSource = Literal["model", "offline", "fallback"]

TRIGGER_LABELS: dict[str, str] = {
    "asked_for_human": "Customer asked for a person",
    "churn_threat": "Churn or cancellation threat",
    "negative_sentiment": "Negative sentiment",
    "sensitive_topic": "Sensitive topic",
    "high_value_account": "High-value account",
    "repeated_question": "Same question asked again",
    "low_confidence": "Bot could not find an answer",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ArticleRef(_Frozen):
    """A knowledge-base article as cited to the customer and listed for the agent."""

    title: str
    path: str
    category: str = "general"
    section: str | None = None
    similarity: float | None = None


class KbMatch(_Frozen):
    """One retrieved article with its best passage (the chunk that matched)."""

    article: ArticleRef
    passage: str
    similarity: float


class CompanyAccount(_Frozen):
    """The company a customer's email domain belongs to, from the leads the store holds at that
    domain (never a free-mail domain such as gmail.com)."""

    domain: str
    company: str | None = None
    employees: int | None = None
    owner: str | None = None
    band: str | None = None
    known_contacts: int = 0     # leads on file at this domain
    linked_by: Literal["email", "domain"] = "domain"


class CustomerFacts(_Frozen):
    """What the store knows about the customer, looked up by email (leads and events); when the
    email itself is unknown, by its company domain (`account`)."""

    email: str | None = None
    name: str | None = None
    lead_id: str | None = None
    company: str | None = None
    domain: str | None = None
    title: str | None = None
    employees: int | None = None
    segment: str | None = None
    band: str | None = None
    account_owner: str | None = None
    plan: str | None = None
    value: Literal["high", "standard", "unknown"] = "unknown"
    value_reasons: list[str] = []
    open_tickets: list[dict[str, Any]] = []
    recent_activity: list[dict[str, Any]] = []
    previous_transfers: int = 0
    account: CompanyAccount | None = None

    @property
    def first_name(self) -> str | None:
        if not self.name:
            return None
        return self.name.split()[0]


class Assessment(_Frozen):
    """Everything measured about one customer message before deciding what to do with it."""

    text: str
    sentiment: float
    smalltalk: bool
    content_words: int
    asked_for_human: str | None = None      # the phrase that matched
    churn_threat: str | None = None
    sensitive_topic: str | None = None      # topic name
    sensitive_phrase: str | None = None
    matches: list[KbMatch] = []
    best_similarity: float = 0.0
    kb_hit: bool = False
    # Earlier customer messages (this bot session) similar to this one, with their similarity.
    similar_earlier: list[tuple[int, float]] = []
    intent: str = "other"


class TriggerDecision(_Frozen):
    """Why a conversation goes to a person: the first trigger by priority, and any others."""

    trigger: TriggerName
    detail: str
    also: list[TriggerName] = []

    @property
    def label(self) -> str:
        return TRIGGER_LABELS[self.trigger]


class BotAnswer(_Frozen):
    """What the bot says to one question, with the articles it cites."""

    text: str
    answered: bool
    cited: list[ArticleRef] = []
    source: AnswerSource = "offline"
    note: str | None = None


class TranscriptLine(_Frozen):
    role: MessageRole
    text: str
    at: datetime
    author: str | None = None


class WarmTransfer(BaseModel):
    """The package a person gets when a conversation is handed to them: nothing to re-ask."""

    handoff_id: str
    conversation_id: str
    status: TransferStatus
    owner: str | None = None
    summary: str
    trigger: dict[str, Any]
    intent: str
    sentiment: dict[str, Any]
    customer: CustomerFacts
    bot_tried: dict[str, Any]
    transcript: list[TranscriptLine]
    waiting_since: datetime
    claimed_at: datetime | None = None
    escalated_at: datetime | None = None
    escalated_to: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    note: str | None = None
    suggested_next_steps: list[str] = Field(default_factory=list)
    suggested_reply: str
    policy_version: str | None = None
