"""Support conversations: the one door through which the API (customer side), Slack (agent side)
and the worker (timers) drive the conversation graph and the warm transfer.

- service/support_inbox.py: `post_message` (the customer's side, who may write, the turn lease);
- service/support_transfers.py: `claim`, `agent_reply`, `resolve`, `hand_back`,
  `escalate_unclaimed` (the person's side);
- service/support_views.py: `get_conversation`, `get_handoff` (what people see).

Callers import this module; the names below are the public surface of those three.
"""

from __future__ import annotations

from service import erasure
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.runtime import AppRuntime
from service.support_inbox import (
    CONVERSATION_ID,
    CONVERSATION_ID_PATTERN,
    NOT_YOURS,
    CustomerIn,
    CustomerMessageIn,
    NotYourConversation,
    conversation_token_ok,
    post_message,
    token_matches,
)
from service.support_transfers import (
    AlreadyClaimed,
    agent_reply,
    claim,
    escalate_unclaimed,
    hand_back,
    resolve,
)
from service.support_views import (
    get_conversation,
    get_handoff,
    handoff_package,
    transfer_for_thread,
)

__all__ = [
    "CONVERSATION_ID", "CONVERSATION_ID_PATTERN", "NOT_YOURS", "AlreadyClaimed", "Conflict",
    "CustomerIn", "CustomerMessageIn", "Forbidden", "InvalidInput", "NotFound",
    "NotYourConversation", "agent_reply", "claim", "conversation_token_ok", "erase_customer",
    "escalate_unclaimed", "get_conversation", "get_handoff", "hand_back",
    "handoff_package", "post_message", "resolve", "token_matches", "transfer_for_thread",
]


def erase_customer(rt: AppRuntime, email: str, *, actor: str) -> int:
    """Erase `email` everywhere (service/erasure.py); returns how many support conversations
    went (0 when nothing is known under that address)."""
    try:
        return erasure.erase_customer(rt, email, actor=actor).conversations
    except NotFound:
        return 0
