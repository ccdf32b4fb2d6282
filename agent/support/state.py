"""The conversation graph's state and the port through which its nodes reach the outside world."""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypedDict

from agent.support.models import (
    Assessment,
    BotAnswer,
    ConversationStatus,
    CustomerFacts,
    KbMatch,
    TriggerDecision,
)
from agent.support.policy import SupportPolicy, Thresholds

NoticeKind = Literal["no_answer", "greeting", "thanks", "ack"]


class ConversationState(TypedDict, total=False):
    """JSON-only values (portable checkpoints). One thread per conversation; one run per
    customer message. Counters belong to the current bot session (`epoch`): a hand-back from a
    person starts a new session, so what happened before the transfer does not fire again."""

    conversation_id: str
    message_id: int
    epoch: int
    status: ConversationStatus
    text: str
    assessment: dict[str, Any]
    decision: dict[str, Any] | None
    misses: int                       # consecutive questions without a knowledge-base hit
    answers: int                      # answers given this session
    sentiment_history: list[float]    # customer messages this session, oldest first
    articles_shown: list[dict[str, Any]]
    transfer_id: str | None
    facts: dict[str, Any]             # CustomerFacts of this turn
    outcome: Literal["answered", "missed", "smalltalk", "transferred", "relayed"]


class TurnInput(TypedDict):
    """What the store says about the conversation when a message arrives."""

    conversation_id: str
    message_id: int
    epoch: int
    status: ConversationStatus
    text: str
    customer_name: str | None


class SupportPort(Protocol):
    """Everything a node may do outside the graph. The service layer implements it over the
    store, the knowledge base and the model; tests may use a fake. Every writing method is
    idempotent by message id, so a re-run node never says or hands off anything twice."""

    policy: SupportPolicy
    thresholds: Thresholds

    def load_turn(self, conversation_id: str, message_id: int) -> TurnInput: ...

    def retrieve(self, conversation_id: str, message_id: int, epoch: int, text: str
                 ) -> tuple[list[KbMatch], list[tuple[int, float]]]:
        """Knowledge-base matches for `text` and the earlier customer messages of this session
        that are similar to it (message id, cosine similarity)."""

    def customer_facts(self, conversation_id: str) -> CustomerFacts: ...

    def annotate(self, message_id: int, assessment: Assessment) -> None:
        """Keep what was measured on the customer's message (for the transcript and KPIs)."""

    def answer(self, conversation_id: str, message_id: int, assessment: Assessment,
               facts: CustomerFacts) -> BotAnswer:
        """Write and record the bot's grounded answer to this message."""

    def notice(self, conversation_id: str, message_id: int, kind: NoticeKind,
               facts: CustomerFacts) -> str:
        """Record a fixed bot message (no answer found, a greeting, thanks)."""

    def open_transfer(self, conversation_id: str, message_id: int, decision: TriggerDecision,
                      session: dict[str, Any]) -> str:
        """Hand the conversation to a person: the warm-transfer package, the customer told,
        the Slack card queued, the unclaimed timer set. Returns the transfer (handoff) id."""

    def relay(self, conversation_id: str, message_id: int) -> None:
        """A person owns (or is about to own) the conversation: pass the message on."""
