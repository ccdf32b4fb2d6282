"""A support conversation's customer side: the message input, who may write to a conversation,
and `post_message`, which stores a message and runs the conversation graph on it (the bot
answers, hands off, or, when a person owns the conversation, stays silent and relays it).

A conversation belongs to its customer: the first message fixes the owner (its
`customer.email`, or nobody) and hands out a conversation token, stored only as a hash. A later
message must come from the same email (compared in canonical form) or carry the token; anything
else is refused with one fixed 409 that says nothing about the conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.email_rules import LeadAddress, clean_body, one_line_problem, same_address
from prompts import render
from service import callbacks, csat
from service.audit import audit
from service.errors import Conflict, InvalidInput
from service.lifecycle import (
    CONVERSATION_START,
    OWNED_BY_PEOPLE,
    ConversationStatus,
    transition,
)
from service.runtime import AppRuntime
from service.support import support
from service.support_port import StoreSupportPort
from service.turn_lease import turn_lease
from store.tables import SupportConversation, SupportMessage

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


CONVERSATION_ID_PATTERN = CONVERSATION_ID.pattern
# A message is processed under a short lease on its conversation (threads and replicas alike).
TURN_LEASE = timedelta(seconds=120)


TURN_WAIT_S = 15.0


# One answer for every refused author, whoever owns the conversation and whatever its state.
NOT_YOURS = ("this conversation belongs to the customer who started it: send their email or "
             "the conversation token, or start a new conversation with a new id")


class NotYourConversation(Conflict):
    """A message from someone other than the conversation's customer (409, nothing leaked)."""

    def __init__(self) -> None:
        super().__init__(NOT_YOURS)


# -- inputs -----------------------------------------------------------------------------------

class CustomerIn(BaseModel):
    # No whitespace stripping before the address rule: "a@x.io\r\n" is refused, not trimmed.
    model_config = ConfigDict(extra="forbid")

    email: LeadAddress | None = Field(None, max_length=320)
    name: str | None = Field(None, max_length=200)

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        problem = one_line_problem(value)  # CR/LF, U+2028/U+2029, control characters
        if problem:
            raise ValueError(problem)
        return value or None


class CustomerMessageIn(BaseModel):
    """One customer message. The text is stored as written (it is data, never instructions)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)
    customer: CustomerIn | None = None
    token: str | None = Field(
        None, min_length=1, max_length=128,
        description="The conversation token from the first message's answer: proof of being "
                    "the conversation's customer when the message carries no email")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return clean_body(value.strip())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(stored_hash: str | None, token: str | None) -> bool:
    """Whether `token` is the conversation token whose hash is `stored_hash` (constant time)."""
    if not stored_hash or not token:
        return False
    return hmac.compare_digest(_token_hash(token), stored_hash)


def conversation_token_ok(rt: AppRuntime, conversation_id: str, token: str | None) -> bool:
    """Whether `token` proves its holder is the customer of `conversation_id` (for any
    customer-side route; False for an unknown conversation, so existence is not revealed)."""
    if not CONVERSATION_ID.match(conversation_id):
        return False
    with rt.db.read() as session:
        stored = session.scalar(select(SupportConversation.token_hash)
                                .where(SupportConversation.id == conversation_id))
    return token_matches(stored, token)


def _started(session: Session, conversation: SupportConversation) -> bool:
    """Whether a first message fixed the owner (conversations older than the tokens have
    messages but no token hash)."""
    return conversation.token_hash is not None or session.scalar(
        select(SupportMessage.id).where(SupportMessage.conversation_id == conversation.id)
        .limit(1)) is not None


def _check_author(conversation: SupportConversation, message: CustomerMessageIn) -> None:
    """Refuse a later message that does not come from the conversation's customer."""
    email = message.customer.email if message.customer is not None else None
    if message.token is not None:
        # A token, when given, must be the right one, whatever email comes with it.
        if token_matches(conversation.token_hash, message.token):
            return
        raise NotYourConversation
    owner = conversation.customer_email
    if owner is None:
        if email is None:  # an anonymous conversation, an anonymous message: nothing to prove
            return
        raise NotYourConversation
    if email is not None and (email == owner or same_address(email, owner)):
        return
    raise NotYourConversation


def check_id(conversation_id: str) -> None:
    """Refuse (422) a conversation id that is not 1-64 safe characters."""
    if not CONVERSATION_ID.match(conversation_id):
        raise InvalidInput("conversation_id must be 1-64 characters of letters, digits and "
                           "._:- starting with a letter or digit", field="conversation_id")


def thread_config(conversation_id: str) -> dict[str, Any]:
    """The conversation graph's run config: its checkpoint thread."""
    # Prefixed so a client-chosen id can never name a lead handoff's checkpoint thread.
    return {"configurable": {"thread_id": f"support:{conversation_id}"}}


# -- one message, under the conversation's lease ---------------------------------------------

def _turn_lease(rt: AppRuntime, conversation_id: str) -> AbstractContextManager[None]:
    """Hold the conversation's lease while one message is processed; wait for a running one
    (service.turn_lease: the assistant's conversations are serialised the same way)."""
    return turn_lease(
        rt, SupportConversation, conversation_id, lease=TURN_LEASE, wait_s=TURN_WAIT_S,
        new_row=lambda now: {"status": CONVERSATION_START.value, "epoch": 1,
                             "created_at": now, "updated_at": now},
        busy="an earlier message of this conversation is still being answered; "
             "try again in a moment")


def _request_source_key(conversation_id: str, request_key: str) -> str:
    """The `source_key` of the customer message an `Idempotency-Key` posted (the key hashed:
    any length and character the header allows fits the column, and no key is stored)."""
    return f"request:{conversation_id}:{hashlib.sha256(request_key.encode()).hexdigest()[:40]}"


def _request_digest(message: CustomerMessageIn) -> str:
    """What a replay must repeat: the text and the author's email."""
    email = message.customer.email if message.customer is not None else None
    return hashlib.sha256(f"{email or ''}\n{message.text}".encode()).hexdigest()


def _replayed(session: Session, source_key: str, message: CustomerMessageIn
              ) -> tuple[int, None, bool] | None:
    """The message an earlier request with this `Idempotency-Key` stored, no token, and
    whether its turn was answered (a request that failed mid-turn left it unanswered: the
    replay runs the turn, whose every write is idempotent per message); None for a new key.
    A key reused for a different message is refused (422), nothing written.

    A replayed first message gets no `conversation_token`: only its hash is kept, and issuing
    a new one would hand whoever can repeat the first request (the owner's email, the key and
    the text) a read of the whole conversation, and lock the customer's own token out."""
    earlier = session.scalar(select(SupportMessage).where(SupportMessage.source_key == source_key))
    if earlier is None:
        return None
    if (earlier.meta or {}).get("request") != _request_digest(message):
        raise InvalidInput("this Idempotency-Key was used for a different message; send a new "
                           "message with a new key", field="Idempotency-Key")
    return earlier.id, None, bool((earlier.meta or {}).get("answered"))


def _mark_answered(rt: AppRuntime, message_id: int) -> None:
    """A keyed message's turn is done: a replay answers at once (written under the
    conversation's lease, so a retry waiting on it never runs the turn a second time)."""
    with rt.db.session() as session:
        stored = session.get(SupportMessage, message_id)
        if stored is not None:
            stored.meta = {**(stored.meta or {}), "answered": True}


def _store_customer_message(rt: AppRuntime, conversation_id: str, message: CustomerMessageIn,
                            request_key: str | None = None) -> tuple[int, str | None, bool]:
    """Store the message: (its id, the conversation token when this is the first message,
    whether an earlier request with the same `request_key` stored it and its turn was
    answered: then nothing is written). Raises NotYourConversation (nothing written) when the
    author is not the customer."""
    now = rt.clock.now()
    services = support(rt)
    token: str | None = None
    source_key = (_request_source_key(conversation_id, request_key)
                  if request_key is not None else None)
    email = message.customer.email if message.customer is not None else None
    with rt.db.session() as session:
        conversation = session.get(SupportConversation, conversation_id)
        assert conversation is not None  # created by the lease
        new = not _started(session, conversation)
        if new:
            # The first message fixes the owner (its email, or nobody) and gets the token.
            token = secrets.token_urlsafe(32)
            conversation.token_hash = _token_hash(token)
            conversation.customer_email = email
        else:
            _check_author(conversation, message)
            replay = source_key and _replayed(session, source_key, message)
            if replay:
                return replay
            if email and conversation.customer_email is None:
                # Proven by the token: an anonymous conversation learns its customer's address.
                conversation.customer_email = email
        if message.customer is not None and message.customer.name \
                and not conversation.customer_name:
            conversation.customer_name = message.customer.name
        if conversation.status == ConversationStatus.RESOLVED:
            # Reopened: a new bot session.
            conversation.status = transition(conversation.status, ConversationStatus.BOT)
            conversation.epoch += 1
            conversation.owner = None
            conversation.transfer_id = None
            session.add(SupportMessage(
                conversation_id=conversation_id, epoch=conversation.epoch, role="system",
                text=render("support_notices.j2", kind="reopened", first_name=None), at=now,
                meta={"kind": "reopened"}))
        owned = conversation.status in OWNED_BY_PEOPLE
        meta = {} if request_key is None else {"request": _request_digest(message)}
        row = SupportMessage(conversation_id=conversation_id, epoch=conversation.epoch,
                             role="customer", text=message.text, at=now,
                             transfer_id=conversation.transfer_id if owned else None, meta=meta,
                             source_key=source_key)
        session.add(row)
        conversation.updated_at = now
        if new:
            audit(session, rt, actor="customer", action="support_conversation_started",
                  lead_id=None, conversation_id=conversation_id)
        session.flush()
        message_id = row.id
    services.metrics.messages.labels("customer").inc()
    return message_id, token, False


def _refuse_strangers(rt: AppRuntime, conversation_id: str, message: CustomerMessageIn) -> None:
    """The ownership check before queueing for the conversation's lease, so a stranger never
    holds (or waits on) it; `_store_customer_message` checks again under the lease."""
    with rt.db.read() as session:
        conversation = session.get(SupportConversation, conversation_id)
        if conversation is not None and _started(session, conversation):
            _check_author(conversation, message)


def post_message(rt: AppRuntime, conversation_id: str, message: CustomerMessageIn, *,
                 request_key: str | None = None) -> dict[str, Any]:
    """Store a customer message and let the conversation graph answer, hand off or relay it.

    `request_key` (the `Idempotency-Key` header) makes a retried request safe: the same key
    with the same message stores nothing new and runs no second turn; it answers the reply
    stored for the first request and the conversation's status now (a first message's
    replay carries no `conversation_token`: `_replayed`).

    Returns `{"reply", "status", "handoff_id"}`: the bot's reply (None while a person owns the
    conversation), the conversation's status after this message, and the open transfer's id;
    on the conversation's first message also `conversation_token` (shown once, never stored).
    Raises NotYourConversation (409) for a message from anyone but the conversation's customer.
    """
    check_id(conversation_id)
    if len(message.text) > support(rt).policy.max_message_chars:
        raise InvalidInput(f"text is longer than {support(rt).policy.max_message_chars} "
                           "characters", field="text")
    services = support(rt)
    _refuse_strangers(rt, conversation_id, message)
    with _turn_lease(rt, conversation_id):
        message_id, token, answered = _store_customer_message(rt, conversation_id, message,
                                                              request_key)
        # A callback request, or "that solved it" after the bot's answer, is answered here
        # (service/callbacks.py, service/csat.py); anything else goes through the graph.
        if not answered and not (callbacks.capture(rt, conversation_id, message_id)
                or csat.close_if_solved(rt, conversation_id, message_id)):
            port = StoreSupportPort(rt, services)
            services.graph.invoke({"conversation_id": conversation_id,
                                   "message_id": message_id},
                                  thread_config(conversation_id), context=port)
        if request_key is not None and not answered:
            _mark_answered(rt, message_id)
    with rt.db.session() as session:
        conversation = session.get(SupportConversation, conversation_id)
        assert conversation is not None
        reply = session.scalar(select(SupportMessage.text)
                               .where(SupportMessage.source_key == f"bot:{message_id}"))
        open_transfer = conversation.transfer_id \
            if conversation.status in OWNED_BY_PEOPLE else None
        answer: dict[str, Any] = {"reply": reply, "status": conversation.status,
                                  "handoff_id": open_transfer}
    if token is not None:
        answer["conversation_token"] = token
    return answer
