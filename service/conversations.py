"""Support conversations: the one door through which the API (customer side), Slack (agent side)
and the worker (timers) drive the conversation graph and the warm transfer.

- `post_message` stores the customer's message and runs the conversation graph on it (the bot
  answers, hands off, or, when a person owns the conversation, stays silent and relays it).
- `claim`, `agent_reply`, `resolve`, `hand_back` are the person's side, each recorded
  atomically first (a conditional UPDATE: of concurrent claimers exactly one wins).
- `escalate_unclaimed` is the delayed job the transfer queued: nobody claimed in time, so the
  support lead is alerted and the customer is told honestly.

A conversation belongs to its customer: the first message fixes the owner (its
`customer.email`, or nobody) and hands out a conversation token, stored only as a hash. A later
message must come from the same email (compared in canonical form) or carry the token; anything
else is refused with one fixed 409 that says nothing about the conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.email_rules import AddressError, LeadAddress, clean_body, lead_address, same_address
from agent.policy import Member
from agent.support.models import WarmTransfer
from agent.support.summary import suggested_reply
from prompts import render
from service.audit import audit
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.jobs import enqueue, insert_ignoring_conflicts
from service.runtime import AppRuntime
from service.support import support, support_lead
from service.support_port import StoreSupportPort, line, transcript
from store.tables import SupportConversation, SupportMessage, SupportTransfer

log = logging.getLogger(__name__)

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
CONVERSATION_ID_PATTERN = CONVERSATION_ID.pattern
# A message is processed under a short lease on its conversation (threads and replicas alike).
TURN_LEASE = timedelta(seconds=120)
TURN_WAIT_S = 15.0
MAX_AGENT_TEXT = 4000


# One answer for every refused author, whoever owns the conversation and whatever its state.
NOT_YOURS = ("this conversation belongs to the customer who started it: send their email or "
             "the conversation token, or start a new conversation with a new id")


class NotYourConversation(Conflict):
    """A message from someone other than the conversation's customer (409, nothing leaked)."""

    def __init__(self) -> None:
        super().__init__(NOT_YOURS)


class AlreadyClaimed(Conflict):
    """A second claimer lost the race; `owner` is who won."""

    def __init__(self, owner: str) -> None:
        super().__init__(f"already claimed by {owner}")
        self.owner = owner


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
        if any(c in "\r\n\x00" for c in value):
            raise ValueError("must be one line of text")
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


def _check_id(conversation_id: str) -> None:
    if not CONVERSATION_ID.match(conversation_id):
        raise InvalidInput("conversation_id must be 1-64 characters of letters, digits and "
                           "._:- starting with a letter or digit", field="conversation_id")


def _config(conversation_id: str) -> dict[str, Any]:
    # Prefixed so a client-chosen id can never name a lead handoff's checkpoint thread.
    return {"configurable": {"thread_id": f"support:{conversation_id}"}}


# -- the customer's side ----------------------------------------------------------------------

@contextmanager
def _turn_lease(rt: AppRuntime, conversation_id: str) -> Iterator[None]:
    """Hold the conversation's lease while one message is processed; wait for a running one."""
    deadline = time.monotonic() + TURN_WAIT_S
    while True:
        now = rt.clock.now()
        with rt.db.session() as session:
            session.execute(insert_ignoring_conflicts(session, SupportConversation, [{
                "id": conversation_id, "status": "bot", "epoch": 1, "created_at": now,
                "updated_at": now}], ["id"]))
            won = session.execute(
                update(SupportConversation)
                .where(SupportConversation.id == conversation_id,
                       (SupportConversation.busy_until.is_(None))
                       | (SupportConversation.busy_until < now))
                .values(busy_until=now + TURN_LEASE)).rowcount  # type: ignore[attr-defined]
        if won == 1:
            break
        if time.monotonic() > deadline:
            raise Conflict("an earlier message of this conversation is still being answered; "
                           "try again in a moment")
        time.sleep(0.05)
    try:
        yield
    finally:
        with rt.db.session() as session:
            session.execute(update(SupportConversation)
                            .where(SupportConversation.id == conversation_id)
                            .values(busy_until=None))


def _store_customer_message(rt: AppRuntime, conversation_id: str,
                            message: CustomerMessageIn) -> tuple[int, str | None]:
    """Store the message; the conversation token when this is the first message, else None.
    Raises NotYourConversation (nothing written) when the author is not the customer."""
    now = rt.clock.now()
    services = support(rt)
    token: str | None = None
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
            if email and conversation.customer_email is None:
                # Proven by the token: an anonymous conversation learns its customer's address.
                conversation.customer_email = email
        if message.customer is not None and message.customer.name \
                and not conversation.customer_name:
            conversation.customer_name = message.customer.name
        if conversation.status == "resolved":
            conversation.status = "bot"
            conversation.epoch += 1
            conversation.owner = None
            conversation.transfer_id = None
            session.add(SupportMessage(
                conversation_id=conversation_id, epoch=conversation.epoch, role="system",
                text=render("support_notices.j2", kind="reopened", first_name=None), at=now,
                meta={"kind": "reopened"}))
        owned = conversation.status in ("waiting_for_human", "human")
        row = SupportMessage(conversation_id=conversation_id, epoch=conversation.epoch,
                             role="customer", text=message.text, at=now,
                             transfer_id=conversation.transfer_id if owned else None, meta={})
        session.add(row)
        conversation.updated_at = now
        if new:
            audit(session, rt, actor="customer", action="support_conversation_started",
                  lead_id=None, conversation_id=conversation_id)
        session.flush()
        message_id = row.id
    services.metrics.messages.labels("customer").inc()
    return message_id, token


def _refuse_strangers(rt: AppRuntime, conversation_id: str, message: CustomerMessageIn) -> None:
    """The ownership check before queueing for the conversation's lease, so a stranger never
    holds (or waits on) it; `_store_customer_message` checks again under the lease."""
    with rt.db.read() as session:
        conversation = session.get(SupportConversation, conversation_id)
        if conversation is not None and _started(session, conversation):
            _check_author(conversation, message)


def post_message(rt: AppRuntime, conversation_id: str, message: CustomerMessageIn
                 ) -> dict[str, Any]:
    """Store a customer message and let the conversation graph answer, hand off or relay it.

    Returns `{"reply", "status", "handoff_id"}`: the bot's reply (None while a person owns the
    conversation), the conversation's status after this message, and the open transfer's id;
    on the conversation's first message also `conversation_token` (shown once, never stored).
    Raises NotYourConversation (409) for a message from anyone but the conversation's customer.
    """
    _check_id(conversation_id)
    if len(message.text) > support(rt).policy.max_message_chars:
        raise InvalidInput(f"text is longer than {support(rt).policy.max_message_chars} "
                           "characters", field="text")
    services = support(rt)
    _refuse_strangers(rt, conversation_id, message)
    with _turn_lease(rt, conversation_id):
        message_id, token = _store_customer_message(rt, conversation_id, message)
        port = StoreSupportPort(rt, services)
        services.graph.invoke({"conversation_id": conversation_id, "message_id": message_id},
                              _config(conversation_id), context=port)
    with rt.db.session() as session:
        conversation = session.get(SupportConversation, conversation_id)
        assert conversation is not None
        reply = session.scalar(select(SupportMessage.text)
                               .where(SupportMessage.source_key == f"bot:{message_id}"))
        open_transfer = conversation.transfer_id \
            if conversation.status in ("waiting_for_human", "human") else None
        answer: dict[str, Any] = {"reply": reply, "status": conversation.status,
                                  "handoff_id": open_transfer}
    if token is not None:
        answer["conversation_token"] = token
    return answer


def _member_name(rt: AppRuntime, key: str | None) -> str | None:
    member = rt.roster.find(key)
    return member.name if member else key


def get_conversation(rt: AppRuntime, conversation_id: str, *, token: str | None = None
                     ) -> dict[str, Any]:
    """The conversation as the API shows it. With `token` (a customer-side read) a wrong or
    missing token is the same NotFound as an unknown id: nothing says the id exists."""
    _check_id(conversation_id)
    with rt.db.session() as session:
        conversation = session.get(SupportConversation, conversation_id)
        if conversation is None or (
                token is not None and not token_matches(conversation.token_hash, token)):
            raise NotFound(f"conversation {conversation_id} not found")
        messages = transcript(session, conversation_id)
        owned = conversation.status in ("waiting_for_human", "human")
        return {
            "conversation_id": conversation.id, "status": conversation.status,
            "owner": conversation.owner if conversation.status == "human" else None,
            "owner_name": _member_name(rt, conversation.owner)
            if conversation.status == "human" else None,
            "handoff_id": conversation.transfer_id if owned else None,
            "customer": {"email": conversation.customer_email,
                         "name": conversation.customer_name},
            "messages": [{"role": m.role, "text": m.text, "at": m.at,
                          "author": _member_name(rt, m.author) if m.role == "agent" else None}
                         for m in messages],
            "created_at": conversation.created_at, "updated_at": conversation.updated_at,
        }


# -- the warm-transfer package ----------------------------------------------------------------

def handoff_package(rt: AppRuntime, session: Session, transfer: SupportTransfer) -> WarmTransfer:
    """The package as stored at hand-over, brought up to date: status, owner, the transcript."""
    stored = dict(transfer.package or {})
    stored.update(
        status=transfer.status, owner=transfer.owner, claimed_at=transfer.claimed_at,
        escalated_at=transfer.escalated_at, escalated_to=transfer.escalated_to,
        closed_at=transfer.closed_at, closed_by=transfer.closed_by, note=transfer.note,
        transcript=[line(m).model_dump(mode="json")
                    for m in transcript(session, transfer.conversation_id)])
    package = WarmTransfer.model_validate(stored)
    if transfer.owner:
        package.suggested_reply = suggested_reply(
            transfer.trigger, package.intent, package.customer, _member_name(rt, transfer.owner))
    return package


def get_handoff(rt: AppRuntime, handoff_id: str) -> dict[str, Any]:
    with rt.db.session() as session:
        transfer = session.get(SupportTransfer, handoff_id)
        if transfer is None:
            raise NotFound(f"handoff {handoff_id} not found")
        return handoff_package(rt, session, transfer).model_dump(mode="json")


def transfer_for_thread(rt: AppRuntime, channel: str, thread_ts: str) -> str | None:
    """The transfer whose Slack card roots this thread, if any."""
    with rt.db.session() as session:
        return session.scalar(select(SupportTransfer.id).where(
            SupportTransfer.slack_channel == channel, SupportTransfer.slack_ts == thread_ts))


# -- the person's side ------------------------------------------------------------------------

def _member(rt: AppRuntime, actor: str) -> Member:
    member = rt.roster.find(actor)
    roles = support(rt).policy.claim_roles
    if member is None or member.role not in roles:
        raise Forbidden(f"only the support team ({', '.join(roles)} on the roster) can take "
                        "over customer conversations")
    return member


def _load(session: Session, rt: AppRuntime, handoff_id: str) -> SupportTransfer:
    transfer = session.get(SupportTransfer, handoff_id, with_for_update=not rt.db.is_sqlite)
    if transfer is None:
        raise NotFound(f"handoff {handoff_id} not found")
    return transfer


def _system(session: Session, rt: AppRuntime, conversation: SupportConversation, text: str,
            *, kind: str, key: str, transfer_id: str | None) -> None:
    session.add(SupportMessage(conversation_id=conversation.id, epoch=conversation.epoch,
                               role="system", text=text, at=rt.clock.now(), source_key=key,
                               transfer_id=transfer_id, meta={"kind": kind}))
    conversation.updated_at = rt.clock.now()


def _card_changed(session: Session, rt: AppRuntime, transfer_id: str) -> None:
    if rt.settings.slack_enabled:
        enqueue(session, "support_update_card", {"transfer_id": transfer_id},
                now=rt.clock.now(), dedupe_key=f"support_update_card:{transfer_id}")


def claim(rt: AppRuntime, handoff_id: str, actor: str) -> dict[str, Any]:
    """Make `actor` the owner. The first claim wins; later ones raise AlreadyClaimed."""
    member = _member(rt, actor)
    now = rt.clock.now()
    services = support(rt)
    with rt.db.session() as session:
        transfer = _load(session, rt, handoff_id)
        if transfer.status == "claimed" and transfer.owner:
            raise AlreadyClaimed(transfer.owner)
        if transfer.status != "waiting":
            raise Conflict(f"this conversation was already {transfer.status.replace('_', ' ')}")
        won = session.execute(
            update(SupportTransfer)
            .where(SupportTransfer.id == handoff_id, SupportTransfer.status == "waiting")
            .values(status="claimed", owner=member.key, claimed_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            session.refresh(transfer)
            raise AlreadyClaimed(transfer.owner or "someone else")
        conversation = session.get(SupportConversation, transfer.conversation_id)
        assert conversation is not None
        conversation.status = "human"
        conversation.owner = member.key
        _system(session, rt, conversation,
                render("support_notices.j2", kind="claimed", agent_name=member.name),
                kind="claimed", key=f"claimed:{handoff_id}", transfer_id=handoff_id)
        audit(session, rt, actor=member.key, action="support_transfer_claimed", lead_id=None,
              subject_id=handoff_id, conversation_id=transfer.conversation_id,
              waited_s=(now - transfer.created_at).total_seconds())
        _card_changed(session, rt, handoff_id)
        created_at = transfer.created_at
    services.metrics.claims.inc()
    services.metrics.time_to_claim.observe(max(0.0, (now - created_at).total_seconds()))
    rt.notify_work()
    return get_handoff(rt, handoff_id)


def agent_reply(rt: AppRuntime, handoff_id: str, actor: str, text: str, *,
                source_key: str | None = None, slack_ts: str | None = None) -> dict[str, Any]:
    """The owner's reply to the customer (role `agent`). Idempotent by `source_key`."""
    text = text.strip()[:MAX_AGENT_TEXT]
    if not text:
        raise InvalidInput("the reply is empty", field="text")
    member = rt.roster.find(actor)
    now = rt.clock.now()
    try:
        with rt.db.session() as session:
            transfer = _load(session, rt, handoff_id)
            if transfer.status == "waiting":
                raise Conflict("claim the conversation first; the customer did not get this")
            if transfer.status != "claimed":
                raise Conflict(f"this conversation was already "
                               f"{transfer.status.replace('_', ' ')}; the customer did not get "
                               "this")
            if member is None or member.key != transfer.owner:
                raise Forbidden(f"only the owner ({transfer.owner}) replies to the customer")
            if source_key and session.scalar(select(SupportMessage.id).where(
                    SupportMessage.source_key == source_key)) is not None:
                return {"duplicate": True}
            conversation = session.get(SupportConversation, transfer.conversation_id)
            assert conversation is not None
            session.add(SupportMessage(
                conversation_id=conversation.id, epoch=conversation.epoch, role="agent",
                text=text, author=member.key, at=now, transfer_id=handoff_id,
                source_key=source_key, slack_ts=slack_ts, meta={}))
            conversation.updated_at = now
    except IntegrityError:  # the same Slack message delivered twice at once
        return {"duplicate": True}
    support(rt).metrics.messages.labels("agent").inc()
    return {"duplicate": False}


def _close(rt: AppRuntime, handoff_id: str, actor: str, outcome: str, note: str | None
           ) -> dict[str, Any]:
    member = _member(rt, actor)
    now = rt.clock.now()
    with rt.db.session() as session:
        transfer = _load(session, rt, handoff_id)
        if transfer.status not in ("waiting", "claimed"):
            raise Conflict(f"this conversation was already {transfer.status.replace('_', ' ')}")
        if transfer.status == "claimed" and member.key != transfer.owner and \
                member.role != "manager":
            raise Forbidden(f"only the owner ({transfer.owner}) or a manager can do that")
        won = session.execute(
            update(SupportTransfer)
            .where(SupportTransfer.id == handoff_id,
                   SupportTransfer.status.in_(("waiting", "claimed")))
            .values(status=outcome, active=False, closed_at=now, closed_by=member.key,
                    note=note, owner=transfer.owner or member.key)
        ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            raise Conflict("this conversation was closed a moment ago by someone else")
        conversation = session.get(SupportConversation, transfer.conversation_id)
        assert conversation is not None
        kind = "resolved" if outcome == "resolved" else "handed_back"
        _system(session, rt, conversation,
                render("support_notices.j2", kind=kind, agent_name=member.name),
                kind=kind, key=f"{kind}:{handoff_id}", transfer_id=handoff_id)
        conversation.owner = None
        if outcome == "resolved":
            conversation.status = "resolved"
            conversation.resolved_at = now
        else:
            # A new bot session: the triggers start counting afresh.
            conversation.status = "bot"
            conversation.transfer_id = None
            conversation.epoch += 1
        audit(session, rt, actor=member.key, action=f"support_transfer_{kind}", lead_id=None,
              subject_id=handoff_id, conversation_id=transfer.conversation_id, note=note)
        _card_changed(session, rt, handoff_id)
    support(rt).metrics.outcomes.labels(outcome).inc()
    rt.notify_work()
    return get_handoff(rt, handoff_id)


def resolve(rt: AppRuntime, handoff_id: str, actor: str) -> dict[str, Any]:
    """End the conversation (status resolved). The owner, a manager, or, unclaimed, the team."""
    return _close(rt, handoff_id, actor, "resolved", None)


def hand_back(rt: AppRuntime, handoff_id: str, actor: str, note: str | None = None
              ) -> dict[str, Any]:
    """Return the conversation to the bot, with a note for the record (not shown to the
    customer)."""
    cleaned = (note or "").strip()[:2000] or None
    return _close(rt, handoff_id, actor, "handed_back", cleaned)


def escalate_unclaimed(rt: AppRuntime, handoff_id: str) -> bool:
    """The transfer's timer: still unclaimed, so alert the support lead and tell the customer
    honestly. Returns whether it escalated (False: claimed or closed in time, or done before)."""
    services = support(rt)
    policy = services.policy
    now = rt.clock.now()
    with rt.db.session() as session:
        transfer = _load(session, rt, handoff_id)
        if transfer.status != "waiting" or transfer.escalated_at is not None:
            return False
        lead = support_lead(rt, policy)
        transfer.escalated_at = now
        transfer.escalated_to = lead.key if lead else None
        conversation = session.get(SupportConversation, transfer.conversation_id)
        assert conversation is not None
        waited = max(1, round((now - transfer.created_at).total_seconds() / 60))
        session.add(SupportMessage(
            conversation_id=conversation.id, epoch=conversation.epoch, role="bot",
            text=render("support_notices.j2", kind="escalated", waited_minutes=waited,
                        lead_name=lead.name if lead else None),
            at=now, transfer_id=handoff_id, source_key=f"escalated:{handoff_id}",
            meta={"kind": "escalated"}))
        conversation.updated_at = now
        audit(session, rt, actor="system", action="support_transfer_escalated", lead_id=None,
              subject_id=handoff_id, conversation_id=transfer.conversation_id,
              escalated_to=transfer.escalated_to, waited_minutes=waited)
        if rt.settings.slack_enabled:
            enqueue(session, "support_escalate_slack", {"transfer_id": handoff_id}, now=now,
                    dedupe_key=f"support_escalate_slack:{handoff_id}")
            _card_changed(session, rt, handoff_id)
    services.metrics.escalations.inc()
    services.metrics.messages.labels("bot").inc()
    rt.notify_work()
    return True


# -- erasure ----------------------------------------------------------------------------------

def erase_customer(rt: AppRuntime, email: str, *, actor: str) -> int:
    """Delete every support conversation of `email` (messages, transfers, checkpoints)."""
    try:
        email = lead_address(email)
    except AddressError:  # not a valid address today; an older row may still hold it as given
        email = email.strip().lower()
    with rt.db.session() as session:
        ids = list(session.scalars(select(SupportConversation.id)
                                   .where(SupportConversation.customer_email == email)))
        if ids:
            session.execute(delete(SupportMessage)
                            .where(SupportMessage.conversation_id.in_(ids)))
            session.execute(delete(SupportTransfer)
                            .where(SupportTransfer.conversation_id.in_(ids)))
            session.execute(delete(SupportConversation).where(SupportConversation.id.in_(ids)))
            audit(session, rt, actor=actor, action="support_conversations_erased", lead_id=None,
                  conversations=len(ids))
    for conversation_id in ids:
        rt.checkpointer.delete_thread(_config(conversation_id)["configurable"]["thread_id"])
    return len(ids)


def evaluate_case(case: dict[str, Any], *, rt: AppRuntime) -> dict[str, Any]:
    """Play one eval case through the bot exactly as production would (the evals gate).

    `case` is `{"id", "customer": {"email", "name"}, "messages": [...]}`; every customer turn goes
    through `post_message`, a fresh conversation per call. Returns whether and at which turn the
    bot handed over, the recorded trigger, and the bot's replies.
    """
    conversation_id = f"eval-{case['id']}-{uuid.uuid4().hex[:8]}"
    customer = {k: case["customer"][k] for k in ("email", "name")
                if (case.get("customer") or {}).get(k)}
    replies: list[str] = []
    for turn, text in enumerate(case["messages"], start=1):
        answer = post_message(rt, conversation_id, CustomerMessageIn.model_validate(
            {"text": text, "customer": customer or None}))
        if hasattr(rt.clock, "advance"):
            rt.clock.advance(seconds=30)  # customers take a moment between messages
        if answer["reply"]:
            replies.append(str(answer["reply"]))
        if answer["handoff_id"]:
            with rt.db.session() as session:
                transfer = session.get(SupportTransfer, answer["handoff_id"])
                trigger = transfer.trigger if transfer else None
            return {"handoff": True, "trigger": trigger, "at_turn": turn, "replies": replies}
    return {"handoff": False, "trigger": None, "at_turn": None, "replies": replies}
