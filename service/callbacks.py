"""Callbacks a customer asks for in a support conversation ("call me tomorrow morning").

`capture` runs on every customer message before the conversation graph (service/support_inbox.py):
when the message asks for a call (agent/support/callback_intent.py, offline and deterministic)
the time is read against the injected clock in the owner's time zone (the roster `timezone` of
the claiming agent, or of the support lead while the bot or nobody owns the conversation; else
the policy's business-hours zone), and it becomes ONE open task, `SupportCallback`, for that
owner, who is told at once (Slack, or email). The customer is told the time in words (a bot
message). A later ask in the same
conversation moves the open callback instead of adding another; a replayed message changes
nothing. An ask without a usable time ("can someone call me?") is left to the conversation
graph: asking to be called is asking for a person (the `asked_for_human` trigger).

The SLA timer is a `support_callback_due` job at the callback's time (the same durable timers
as the lead SLA, service/sla.py: a job row with `run_at`, keyed by the deadline, so a moved
callback's old timer does nothing): at the time, the owner is reminded (Slack, or email when
Slack cannot reach them: service/feedback_notices.py); still open `GRACE` later, the support
lead is told. `complete` closes it (`POST /v1/callbacks/{id}/done`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.policy import Member
from agent.support.callback_intent import read_callback
from prompts import render
from service.audit import audit
from service.errors import Conflict, Forbidden, NotFound
from service.feedback_notices import queue_followup
from service.ids import new_id
from service.jobs import enqueue
from service.lifecycle import ConversationStatus
from service.runtime import AppRuntime
from service.sla import owner_timezone
from service.support import support, support_lead
from store.tables import SupportConversation, SupportMessage
from store.tables.feedback import SupportCallback

CALLBACK_JOB = "support_callback_due"
GRACE = timedelta(minutes=30)  # reminded at the time; still open this much later: escalated
STATUSES = ("open", "done")


def _owner(rt: AppRuntime, conversation: SupportConversation) -> Member | None:
    if conversation.status == ConversationStatus.HUMAN and conversation.owner:
        member = rt.roster.find(conversation.owner)
        if member is not None:
            return member
    return support_lead(rt, support(rt).policy)  # type: ignore[no-any-return]


def _timezone(rt: AppRuntime, member: Member | None) -> str:
    return owner_timezone(rt, member) or rt.policy.business_hours.timezone


def _schedule(rt: AppRuntime, session: Session, callback: SupportCallback, *, breach: int,
              at: datetime) -> None:
    due = callback.due_at.isoformat()
    enqueue(session, CALLBACK_JOB, {"callback_id": callback.id, "breach": breach, "due": due},
            now=rt.clock.now(), run_at=at, dedupe_key=f"callback:{callback.id}:{due}:{breach}")


def _say(session: Session, rt: AppRuntime, conversation: SupportConversation, message_id: int,
         text: str, kind: str) -> None:
    session.add(SupportMessage(
        conversation_id=conversation.id, epoch=conversation.epoch, role="bot", text=text,
        at=rt.clock.now(), reply_to=message_id, source_key=f"bot:{message_id}",
        transfer_id=conversation.transfer_id, meta={"kind": kind}))
    conversation.updated_at = rt.clock.now()


def _when(at: datetime, timezone: str) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    return local.strftime(f"on %A %d %B at %H:%M ({timezone} time)")


def capture(rt: AppRuntime, conversation_id: str, message_id: int) -> bool:
    """Record the callback the customer's message asks for, if it asks for one. Returns whether
    the bot answered the message here (only while the bot owns the conversation: the graph is
    then not run on it; while a person owns it, the graph still relays the message)."""
    now = rt.clock.now()
    scheduled = False
    with rt.db.session() as session:
        conversation = session.get(SupportConversation, conversation_id,
                                   with_for_update=not rt.db.is_sqlite)
        message = session.get(SupportMessage, message_id)
        if conversation is None or message is None or message.role != "customer":
            return False
        bot_owns = conversation.status == ConversationStatus.BOT
        if session.scalar(select(SupportMessage.id).where(
                SupportMessage.source_key == f"bot:{message_id}")) is not None:
            return bot_owns and session.scalar(select(SupportCallback.id).where(
                SupportCallback.message_id == message_id)) is not None
        owner = _owner(rt, conversation)
        timezone = _timezone(rt, owner)
        ask = read_callback(message.text, now, timezone)
        if ask is None or ask.at is None:
            # No usable time ("call me", a time already passed): asking to be called is
            # asking for a person, so the graph hands it over (or relays it to the owner).
            return False
        callback = session.scalars(select(SupportCallback).where(
            SupportCallback.conversation_id == conversation_id,
            SupportCallback.status == "open")).first()
        if callback is None:
            callback = SupportCallback(
                id=new_id("cb"), conversation_id=conversation_id, message_id=message_id,
                created_at=now, status="open", breaches=0, notified=False)
            session.add(callback)
        callback.asked, callback.due_at, callback.timezone = ask.asked, ask.at, timezone
        callback.phone = ask.phone or callback.phone
        callback.owner = owner.key if owner else None
        callback.breaches, callback.reminded_at = 0, None
        who = owner.name.split()[0] if owner and owner.name else "someone from our support team"
        _say(session, rt, conversation, message_id,
             render("support_feedback.j2", kind="callback_confirmed", who=who,
                    when=_when(ask.at, timezone), phone=bool(callback.phone)),
             "callback_confirmed")
        session.flush()
        _schedule(rt, session, callback, breach=1, at=ask.at)
        # The owner hears of the task now (their Slack, or email), and again at the time.
        queue_followup(rt, session, kind="callback_scheduled", subject_id=callback.id,
                       recipient=owner, key=f"{callback.id}:{ask.at.isoformat()}:scheduled")
        audit(session, rt, actor="customer", action="support_callback_scheduled", lead_id=None,
              subject_id=callback.id, conversation_id=conversation_id,
              due_at=ask.at.isoformat(), timezone=timezone, owner=callback.owner)
        scheduled = True
    if scheduled:
        rt.metrics.callbacks.labels("scheduled").inc()
        support(rt).metrics.messages.labels("bot").inc()
        rt.notify_work()
    return bot_owns


def check_callback(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """The `support_callback_due` job: breach 1 (the time came) reminds the owner; breach 2
    (still open `GRACE` later) tells the support lead. Idempotent (`breaches` on the row)."""
    now = rt.clock.now()
    breach = int(payload["breach"])
    with rt.db.session() as session:
        callback = session.get(SupportCallback, payload["callback_id"],
                               with_for_update=not rt.db.is_sqlite)
        if callback is None or callback.status != "open" or callback.breaches >= breach \
                or callback.due_at.isoformat() != payload["due"]:
            return  # done, moved, or this step handled already
        callback.breaches = breach
        if breach == 1:
            callback.reminded_at = now
            to = rt.roster.find(callback.owner)
            kind = "callback_reminder"
            _schedule(rt, session, callback, breach=2, at=now + GRACE)
        else:
            to = support_lead(rt, support(rt).policy)
            callback.escalated_at, callback.escalated_to = now, to.key if to else None
            kind = "callback_escalation"
        via = queue_followup(rt, session, kind=kind,  # type: ignore[arg-type]
                             subject_id=callback.id, recipient=to,
                             key=f"{callback.id}:{payload['due']}:{breach}")
        audit(session, rt, actor="system", action=f"support_{kind}", lead_id=None,
              subject_id=callback.id, conversation_id=callback.conversation_id,
              due=payload["due"], to=to.key if to else None, via=via)
    rt.metrics.callbacks.labels("reminded" if breach == 1 else "escalated").inc()
    rt.notify_work()


def complete(rt: AppRuntime, callback_id: str, actor: str) -> dict[str, Any]:
    """The owner (or the support team) marks the call made. 409 when it was done already."""
    member = rt.roster.find(actor)
    if member is None or member.role not in support(rt).policy.claim_roles:
        raise Forbidden("only the support team marks callbacks done")
    now = rt.clock.now()
    with rt.db.session() as session:
        callback = session.get(SupportCallback, callback_id, with_for_update=not rt.db.is_sqlite)
        if callback is None:
            raise NotFound(f"callback {callback_id} not found")
        if callback.status != "open":
            raise Conflict("this callback was already done")
        callback.status, callback.done_at, callback.done_by = "done", now, member.key
        audit(session, rt, actor=member.key, action="support_callback_done", lead_id=None,
              subject_id=callback_id, conversation_id=callback.conversation_id)
        return public(rt, callback)


def public(rt: AppRuntime, callback: SupportCallback) -> dict[str, Any]:
    owner = rt.roster.find(callback.owner)
    return {"callback_id": callback.id, "conversation_id": callback.conversation_id,
            "due_at": callback.due_at, "timezone": callback.timezone,
            "local_time": callback.due_at.astimezone(ZoneInfo(callback.timezone)).isoformat(),
            "asked": callback.asked, "phone": callback.phone, "owner": callback.owner,
            "owner_name": owner.name if owner else callback.owner, "status": callback.status,
            "reminded_at": callback.reminded_at, "escalated_at": callback.escalated_at,
            "done_at": callback.done_at, "done_by": callback.done_by,
            "created_at": callback.created_at}


def list_callbacks(rt: AppRuntime, *, status: str | None = None,
                   conversation_id: str | None = None) -> list[dict[str, Any]]:
    """Callbacks, soonest first (`status`: open | done)."""
    query = select(SupportCallback).order_by(SupportCallback.due_at)
    if status is not None:
        query = query.where(SupportCallback.status == status)
    if conversation_id is not None:
        query = query.where(SupportCallback.conversation_id == conversation_id)
    with rt.db.read() as session:
        return [public(rt, c) for c in session.scalars(query.limit(500))]


CALLBACK_JOB_HANDLERS = {CALLBACK_JOB: check_callback}
