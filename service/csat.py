"""Customer satisfaction (issue 19 item 4): a resolved support conversation asks its customer
for a 1-5 rating, the rating is kept once, and a low one opens a follow-up for the support lead.

Two ways a conversation is resolved, both end in `request_rating` (a bot message asking for the
rating, once per resolved stretch):
- a person resolves the transfer (service/support_transfers.py `_close`, same transaction);
- the bot: the customer says the bot's answer solved it ("thanks, that worked",
  agent/support/closing.py) while the bot owns the conversation and has answered in this
  session (`close_if_solved`, called by service/support_inbox.py before the graph runs).

`rate` records the rating: 409 for a conversation that is not resolved (the customer cannot
rate what is still going on; a reopened conversation is rated again when it is resolved again)
and for a second rating of the same resolved stretch; the score range is the input model's
(422 naming `score`). What it is reported by is fixed at rating time: bot-only or transferred,
the transfer's trigger (why they escalated) and the agent who resolved it (`SupportRating`).
A score of `LOW_SCORE` or less queues one follow-up (service/feedback_notices.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.support.closing import says_solved
from prompts import render
from service.audit import audit
from service.errors import Conflict, NotFound
from service.feedback_notices import queue_followup
from service.ids import new_id
from service.lifecycle import ConversationStatus, TransferStatus, transition
from service.runtime import AppRuntime
from service.support import support, support_lead
from store.tables import SupportConversation, SupportMessage, SupportTransfer
from store.tables.feedback import SupportRating

LOW_SCORE = 2
MAX_COMMENT = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")


class RatingIn(BaseModel):
    """The customer's rating. The comment is stored as written (data, never instructions) minus
    control characters, and shown escaped wherever it is shown."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5, strict=True, description="1 (poor) to 5 (excellent)")
    comment: str | None = Field(None, max_length=MAX_COMMENT)
    token: str | None = Field(None, min_length=1, max_length=128,
                              description="The conversation token (customer side); not needed "
                                          "with a bearer token")

    @field_validator("comment")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        return _CONTROL.sub(" ", value or "").strip() or None


# -- asking ------------------------------------------------------------------------------------

def request_rating(session: Session, rt: AppRuntime, conversation: SupportConversation) -> bool:
    """Inside the resolving transaction: the bot asks the customer for a rating of this resolved
    stretch (`epoch`), once. Returns whether it asked now."""
    key = f"rating_request:{conversation.id}:{conversation.epoch}"
    if session.scalar(select(SupportMessage.id).where(SupportMessage.source_key == key)):
        return False
    session.add(SupportMessage(
        conversation_id=conversation.id, epoch=conversation.epoch, role="bot",
        text=render("support_feedback.j2", kind="rating_request"), at=rt.clock.now(),
        source_key=key, transfer_id=conversation.transfer_id,
        meta={"kind": "rating_request"}))
    support(rt).metrics.messages.labels("bot").inc()
    return True


def _answered_this_session(session: Session, conversation: SupportConversation) -> bool:
    kinds = session.scalars(select(SupportMessage.meta).where(
        SupportMessage.conversation_id == conversation.id,
        SupportMessage.epoch == conversation.epoch, SupportMessage.role == "bot"))
    return any((meta or {}).get("kind") == "answer" for meta in kinds)


def close_if_solved(rt: AppRuntime, conversation_id: str, message_id: int) -> bool:
    """The bot's resolution: the customer's message says the bot's answer solved it, so the
    bot replies, resolves the conversation and asks for a rating. Returns whether it did (the
    message is then answered; the conversation graph is not run on it)."""
    now = rt.clock.now()
    with rt.db.session() as session:
        conversation = session.get(SupportConversation, conversation_id)
        message = session.get(SupportMessage, message_id)
        if conversation is None or message is None \
                or conversation.status != ConversationStatus.BOT \
                or not says_solved(message.text) \
                or not _answered_this_session(session, conversation):
            return False
        if session.scalar(select(SupportMessage.id).where(
                SupportMessage.source_key == f"bot:{message_id}")) is not None:
            return True  # done before (a retried request)
        session.add(SupportMessage(
            conversation_id=conversation_id, epoch=conversation.epoch, role="bot",
            text=render("support_feedback.j2", kind="resolved_by_bot"), at=now,
            reply_to=message_id, source_key=f"bot:{message_id}",
            meta={"kind": "resolved_by_bot"}))
        conversation.status = transition(conversation.status, ConversationStatus.RESOLVED)
        conversation.resolved_at = now
        conversation.transfer_id = None
        conversation.updated_at = now
        request_rating(session, rt, conversation)
        audit(session, rt, actor="bot", action="support_conversation_resolved", lead_id=None,
              subject_id=conversation_id, by="bot", message_id=message_id)
    metrics = support(rt).metrics
    metrics.messages.labels("bot").inc()
    metrics.answers.labels("resolved_by_bot", "offline").inc()
    return True


# -- rating ------------------------------------------------------------------------------------

def _stretch_transfer(session: Session, conversation: SupportConversation,
                      since: datetime | None) -> SupportTransfer | None:
    """The transfer this resolved stretch went through (the latest since the previous
    rating), or None for a bot-only stretch."""
    query = select(SupportTransfer).where(
        SupportTransfer.conversation_id == conversation.id)
    if since is not None:
        query = query.where(SupportTransfer.created_at > since)
    return session.scalars(query.order_by(SupportTransfer.created_at.desc())).first()


def rate(rt: AppRuntime, conversation_id: str, rating: RatingIn, *, rated_by: str
         ) -> dict[str, Any]:
    """Record the customer's rating of the conversation's resolved stretch (the caller has
    authenticated: the conversation token, or a bearer token). Raises NotFound, Conflict."""
    now = rt.clock.now()
    low = rating.score <= LOW_SCORE
    try:
        with rt.db.session() as session:
            conversation = session.get(SupportConversation, conversation_id)
            if conversation is None:
                raise NotFound(f"conversation {conversation_id} not found")
            if conversation.status != ConversationStatus.RESOLVED:
                raise Conflict("this conversation is not resolved yet: it can be rated once "
                               "it is resolved")
            if session.scalar(select(SupportRating.id).where(
                    SupportRating.conversation_id == conversation_id,
                    SupportRating.epoch == conversation.epoch)) is not None:
                raise Conflict("this conversation was already rated")
            previous = session.scalar(select(SupportRating.created_at).where(
                SupportRating.conversation_id == conversation_id)
                .order_by(SupportRating.created_at.desc()).limit(1))
            transfer = _stretch_transfer(session, conversation, previous)
            resolved_by_person = transfer is not None \
                and transfer.status == TransferStatus.RESOLVED
            row = SupportRating(
                id=new_id("csat"), conversation_id=conversation_id, epoch=conversation.epoch,
                score=rating.score, comment=rating.comment,
                path="transferred" if transfer is not None else "bot_only",
                trigger=transfer.trigger if transfer is not None else None,
                agent=(transfer.closed_by or transfer.owner) if resolved_by_person and transfer
                else None,
                transfer_id=transfer.id if transfer is not None else None,
                rated_by=rated_by, created_at=now)
            if low:
                lead = support_lead(rt, support(rt).policy)
                row.followup_to = lead.key if lead else None
                row.followup_via = queue_followup(rt, session, kind="csat", subject_id=row.id,
                                                  recipient=lead)
            session.add(row)
            session.add(SupportMessage(
                conversation_id=conversation_id, epoch=conversation.epoch, role="bot",
                text=render("support_feedback.j2", kind="rating_thanks", low=low), at=now,
                source_key=f"rated:{row.id}", meta={"kind": "rating_thanks"}))
            audit(session, rt, actor=rated_by, action="support_rating_received", lead_id=None,
                  subject_id=row.id, conversation_id=conversation_id, score=rating.score,
                  path=row.path, trigger=row.trigger, agent=row.agent,
                  followup_to=row.followup_to)
            session.flush()
            answer = _public(row)
    except IntegrityError:  # the same rating posted twice at once: one of them wins
        raise Conflict("this conversation was already rated") from None
    metrics = rt.metrics
    metrics.csat_ratings.labels(answer["path"], answer["trigger"] or "none",
                                answer["agent"] or "bot", str(rating.score)).inc()
    if low:
        metrics.csat_followups.inc()
    rt.notify_work()
    return answer


def _public(row: SupportRating) -> dict[str, Any]:
    return {"rating_id": row.id, "conversation_id": row.conversation_id, "score": row.score,
            "comment": row.comment, "path": row.path, "trigger": row.trigger,
            "agent": row.agent, "rated_at": row.created_at,
            "followup": row.followup_to is not None}


def rating_state(rt: AppRuntime, conversation_id: str) -> dict[str, Any] | None:
    """The conversation read's `rating`: whether the customer was asked for a rating (the
    conversation is resolved), and the score once given; None for an unknown conversation."""
    with rt.db.read() as session:
        conversation = session.get(SupportConversation, conversation_id)
        if conversation is None:
            return None
        row = session.scalars(select(SupportRating).where(
            SupportRating.conversation_id == conversation_id,
            SupportRating.epoch == conversation.epoch)).first()
        resolved = conversation.status == ConversationStatus.RESOLVED
        return {"requested": resolved or row is not None, "score": row.score if row else None,
                "rated_at": row.created_at if row else None}
