"""The conversation graph's window on the world, backed by the store, the knowledge base and the
answerer. Every writing method is idempotent by message id (a `source_key`), so a node that runs
again never says or hands off anything twice."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.support import triggers
from agent.support.models import (
    Assessment,
    BotAnswer,
    CustomerFacts,
    KbMatch,
    TranscriptLine,
    TriggerDecision,
)
from agent.support.paraphrase import english_gloss
from agent.support.policy import SupportPolicy
from agent.support.state import NoticeKind, TurnInput
from agent.support.summary import build_warm_transfer
from prompts import render
from service.audit import audit
from service.ids import new_id
from service.jobs import enqueue
from service.lifecycle import TRANSFER_START, ConversationStatus, transition
from service.runtime import AppRuntime
from service.support import SupportServices
from service.support_accounts import company_account, sayable_company
from service.support_sections import best_section
from store.tables import Event, Lead, SupportConversation, SupportMessage, SupportTransfer

log = logging.getLogger(__name__)

_CLOSED_TICKET = ("closed", "resolved", "solved", "done")
_REASON_LINES = {
    "asked_for_human": "Of course.",
    "churn_threat": "I'm sorry this has been frustrating.",
    "negative_sentiment": "I'm sorry this has been frustrating.",
    "sensitive_topic": "This is something a person from our team should handle.",
    "high_value_account": "Let me get you a person from our team.",
    "repeated_question": "I'm sorry my answers haven't helped.",
    "low_confidence": "I don't have a good answer for that.",
}


# -- reading the store ------------------------------------------------------------------------

def transcript(session: Session, conversation_id: str, *, epoch: int | None = None
               ) -> list[SupportMessage]:
    query = select(SupportMessage).where(SupportMessage.conversation_id == conversation_id)
    if epoch is not None:
        query = query.where(SupportMessage.epoch == epoch)
    return list(session.scalars(query.order_by(SupportMessage.id)))


def line(message: SupportMessage) -> TranscriptLine:
    return TranscriptLine(role=message.role, text=message.text, at=message.at,  # type: ignore[arg-type]
                          author=message.author)


def _event_detail(kind: str, props: dict[str, Any]) -> str:
    keys = ("subject", "status", "form", "url", "campaign", "metric", "change_pct", "name")
    facts = ", ".join(f"{k}: {props[k]}" for k in keys if props.get(k) not in (None, ""))
    return f"{kind.replace('_', ' ')} ({facts[:160]})" if facts else kind.replace("_", " ")


def customer_facts(rt: AppRuntime, session: Session, email: str | None, name: str | None,
                   policy: SupportPolicy) -> CustomerFacts:
    """What the store knows about the customer by email: the lead record, its support tickets,
    recent activity, plan and value (by the policy's high-value rules)."""
    email = (email or "").strip().lower() or None
    lead = session.scalar(select(Lead).where(Lead.email == email)) if email else None
    if lead is not None and lead.erased_at is not None:
        lead = None
    domain = (lead.domain if lead and lead.domain else None) or \
        (email.rsplit("@", 1)[-1] if email else None)
    # A colleague's lead at the same company domain links the customer to the account.
    account = company_account(rt, session, email)
    company = (lead.company if lead else None) or (account.company if account else None)
    employees = (lead.employees if lead else None) or (account.employees if account else None)
    hv = policy.triggers.high_value_account
    reasons: list[str] = []
    owner = (lead.owner if lead else None) or (account.owner if account else None)
    if hv.min_employees and (employees or 0) >= hv.min_employees:
        at = "" if lead is not None else f" at {company or domain} (account on file)"
        reasons.append(f"{employees:,} employees{at}")
    if domain and domain.lower() in {d.lower() for d in hv.domains}:
        reasons.append(f"{domain} is on the high-value list")
    if domain and hv.include_target_accounts:
        target = next((t for t in rt.policy.routing.target_accounts
                       if t.domain.lower() == domain.lower()), None)
        if target is not None:
            reasons.append(f"strategic account {domain}")
            owner = owner or target.owner
    tickets: list[dict[str, Any]] = []
    activity: list[dict[str, Any]] = []
    plan = None
    if lead is not None:
        events = list(session.scalars(select(Event).where(Event.lead_id == lead.id)
                                      .order_by(Event.occurred_at.desc()).limit(200)))
        for event in events:
            props = event.properties or {}
            if plan is None and props.get("plan"):
                plan = str(props["plan"])[:40]
            if event.type == "support_ticket" and \
                    str(props.get("status") or "open").lower() not in _CLOSED_TICKET:
                tickets.append({"event_id": event.event_id, "subject": props.get("subject"),
                                "status": props.get("status") or "open",
                                "sentiment": props.get("sentiment"),
                                "opened_at": event.occurred_at.isoformat()})
        activity = [{"type": e.type, "occurred_at": e.occurred_at.isoformat(),
                     "detail": _event_detail(e.type, e.properties or {})} for e in events[:5]]
    previous = session.scalar(
        select(func.count()).select_from(SupportTransfer).join(
            SupportConversation, SupportConversation.id == SupportTransfer.conversation_id)
        .where(SupportConversation.customer_email == email)) if email else 0
    known = lead is not None or account is not None or bool(reasons)
    first, last = (lead.first_name, lead.last_name) if lead else (None, None)
    return CustomerFacts(
        email=email, name=name or (" ".join(p for p in (first, last) if p) or None),
        lead_id=lead.id if lead else None, company=company,
        domain=domain, title=lead.title if lead else None,
        employees=employees,
        segment=rt.policy.segment_for(employees) if employees else None,
        band=lead.band if lead else None, account_owner=owner, plan=plan,
        value="high" if reasons else ("standard" if known else "unknown"),
        value_reasons=reasons, open_tickets=tickets[:5], recent_activity=activity,
        previous_transfers=int(previous or 0), account=account)


# -- the port ---------------------------------------------------------------------------------

class StoreSupportPort:
    def __init__(self, rt: AppRuntime, services: SupportServices) -> None:
        self.rt = rt
        self.services = services
        self.policy = services.policy
        self.thresholds = services.thresholds

    def load_turn(self, conversation_id: str, message_id: int) -> TurnInput:
        with self.rt.db.session() as session:
            conversation = session.get(SupportConversation, conversation_id)
            message = session.get(SupportMessage, message_id)
            if conversation is None or message is None:
                raise LookupError(f"message {message_id} of {conversation_id} vanished")
            return TurnInput(conversation_id=conversation_id, message_id=message_id,
                             epoch=conversation.epoch, status=conversation.status,  # type: ignore[typeddict-item]
                             text=message.text, customer_name=conversation.customer_name)

    def retrieve(self, conversation_id: str, message_id: int, epoch: int, text: str
                 ) -> tuple[list[KbMatch], list[tuple[int, float]]]:
        window = self.policy.triggers.repeated_question.window_messages
        with self.rt.db.session() as session:
            earlier = [m for m in transcript(session, conversation_id, epoch=epoch)
                       if m.role == "customer" and m.id < message_id
                       and (m.meta or {}).get("question")][-window:]
        kb = self.services.knowledge_base
        try:
            # German, French and Spanish questions are also searched by the English names
            # of what they ask: the help articles are English.
            gloss = english_gloss(text)
            query = gloss or text
            vectors = kb.embed([text] + [m.text for m in earlier] + ([query] if gloss else []))
            matches = kb.search(query, k=self.policy.top_k, vector=vectors[-1] if gloss
                                else vectors[0])
            vectors = vectors[:1 + len(earlier)]
            if matches:  # the section of the best article that answers best
                matches[0] = best_section(kb, query, matches[0])
        except Exception:  # an unreachable embeddings endpoint or Chroma: the bot knows nothing
            log.exception("knowledge-base lookup failed for conversation %s", conversation_id)
            return [], []
        similar = triggers.similar_earlier(vectors[0], list(zip([m.id for m in earlier],
                                                               vectors[1:], strict=True)),
                                           self.thresholds.repeat_similarity,
                                           current_text=text,
                                           earlier_texts=[m.text for m in earlier])
        return matches, similar

    def customer_facts(self, conversation_id: str) -> CustomerFacts:
        with self.rt.db.session() as session:
            conversation = session.get(SupportConversation, conversation_id)
            if conversation is None:
                return CustomerFacts()
            return customer_facts(self.rt, session, conversation.customer_email,
                                  conversation.customer_name, self.policy)

    def annotate(self, message_id: int, assessment: Assessment) -> None:
        question = not assessment.smalltalk and assessment.content_words >= \
            self.policy.triggers.repeated_question.min_content_words
        with self.rt.db.session() as session:
            message = session.get(SupportMessage, message_id)
            if message is None:
                return
            message.meta = {
                **(message.meta or {}), "sentiment": assessment.sentiment,
                "intent": assessment.intent, "question": question, "kb_hit": assessment.kb_hit,
                "best_similarity": assessment.best_similarity,
                "articles": [m.article.title for m in assessment.matches],
                "similar_earlier": [mid for mid, _ in assessment.similar_earlier],
            }

    def _say(self, session: Session, conversation: SupportConversation, message_id: int,
             text: str, meta: dict[str, Any], transfer_id: str | None = None) -> None:
        session.add(SupportMessage(
            conversation_id=conversation.id, epoch=conversation.epoch, role="bot", text=text,
            at=self.rt.clock.now(), reply_to=message_id, transfer_id=transfer_id,
            source_key=f"bot:{message_id}", meta=meta))
        conversation.updated_at = self.rt.clock.now()
        self.services.metrics.messages.labels("bot").inc()

    def _existing_reply(self, session: Session, message_id: int) -> SupportMessage | None:
        return session.scalar(select(SupportMessage)
                              .where(SupportMessage.source_key == f"bot:{message_id}"))

    def answer(self, conversation_id: str, message_id: int, assessment: Assessment,
               facts: CustomerFacts) -> BotAnswer:
        with self.rt.db.session() as session:
            existing = self._existing_reply(session, message_id)
            if existing is not None:
                recorded = (existing.meta or {}).get("answer")
                return (BotAnswer.model_validate(recorded) if recorded
                        else BotAnswer(text=existing.text, answered=False))
        written = self.services.answerer.answer(assessment.text,
                                                assessment.matches[:self.policy.top_k],
                                                first_name=facts.first_name)
        if not written.answered:
            written = written.model_copy(update={
                "text": render("support_notices.j2", kind="no_answer", first_name=None)})
        with self.rt.db.session() as session:
            conversation = session.get(SupportConversation, conversation_id)
            if conversation is not None and self._existing_reply(session, message_id) is None:
                self._say(session, conversation, message_id, written.text, {
                    "kind": "answer" if written.answered else "no_answer",
                    "answer": written.model_dump(mode="json")})
        self.services.metrics.answers.labels("answered" if written.answered else "no_answer",
                                             written.source).inc()
        return written

    def notice(self, conversation_id: str, message_id: int, kind: NoticeKind,
               facts: CustomerFacts) -> str:
        text = render("support_notices.j2", kind=kind, first_name=facts.first_name)
        with self.rt.db.session() as session:
            conversation = session.get(SupportConversation, conversation_id)
            existing = self._existing_reply(session, message_id)
            if existing is not None:
                return existing.text
            if conversation is not None:
                self._say(session, conversation, message_id, text, {"kind": kind})
        self.services.metrics.answers.labels(kind, "offline").inc()
        return text

    def open_transfer(self, conversation_id: str, message_id: int, decision: TriggerDecision,
                      session_info: dict[str, Any]) -> str:
        rt, policy = self.rt, self.policy
        now = rt.clock.now()
        with rt.db.session() as session:
            done = session.scalar(select(SupportTransfer)
                                  .where(SupportTransfer.trigger_message_id == message_id))
            if done is not None:
                return done.id  # this node ran before (a re-run after a crash)
            conversation = session.get(SupportConversation, conversation_id,
                                       with_for_update=not rt.db.is_sqlite)
            if conversation is None:
                raise LookupError(f"conversation {conversation_id} vanished")
            if conversation.status != ConversationStatus.BOT and conversation.transfer_id:
                return conversation.transfer_id  # someone else handed it over a moment ago
            facts = customer_facts(rt, session, conversation.customer_email,
                                   conversation.customer_name, policy)
            messages = transcript(session, conversation_id)
            session_messages = [m for m in messages if m.epoch == conversation.epoch]
            intents = [str((m.meta or {}).get("intent")) for m in session_messages
                       if m.role == "customer" and (m.meta or {}).get("intent")]
            could_answer = self._bot_could_answer(session_messages, message_id)
            transfer_id = new_id("wt")
            wait = policy.typical_wait_minutes
            notice = render("support_notices.j2", kind="transfer",
                            reason_line=_REASON_LINES[decision.trigger], wait_minutes=wait,
                            first_name=facts.first_name,
                            company=sayable_company(facts.company) if facts.account else None)
            package = build_warm_transfer(
                handoff_id=transfer_id, conversation_id=conversation_id,
                status=TRANSFER_START,
                decision=decision, facts=facts,
                transcript=[line(m) for m in messages],
                session_lines=[line(m) for m in session_messages], session_intents=intents,
                sentiment_history=list(session_info.get("sentiment_history") or []),
                articles_shown=list(session_info.get("articles_shown") or []),
                answers=int(session_info.get("answers") or 0),
                misses=int(session_info.get("misses") or 0), bot_could_answer=could_answer,
                waiting_since=now, policy_version=rt.policy.version,
                last_answer=next((m.text for m in reversed(session_messages)
                                  if (m.meta or {}).get("kind") == "answer"), None))
            session.add(SupportTransfer(
                id=transfer_id, conversation_id=conversation_id, epoch=conversation.epoch,
                trigger=decision.trigger, trigger_detail=decision.detail, also=decision.also,
                bot_could_answer=could_answer, trigger_message_id=message_id,
                status=TRANSFER_START.value,
                active=True, package=package.model_dump(mode="json", exclude={"transcript"}),
                policy_version=rt.policy.version, created_at=now))
            session.flush()
            conversation.status = transition(conversation.status,
                                             ConversationStatus.WAITING_FOR_HUMAN)
            conversation.transfer_id = transfer_id
            conversation.owner = None
            self._say(session, conversation, message_id, notice,
                      {"kind": "transfer", "trigger": decision.trigger}, transfer_id)
            trigger_message = session.get(SupportMessage, message_id)
            if trigger_message is not None:
                trigger_message.transfer_id = transfer_id
            audit(session, rt, actor="system", action="support_transfer_opened",
                  lead_id=facts.lead_id, subject_id=transfer_id,
                  conversation_id=conversation_id, trigger=decision.trigger,
                  detail=decision.detail, also=list(decision.also),
                  bot_could_answer=could_answer)
            timeout = timedelta(minutes=policy.claim_timeout_minutes)
            enqueue(session, "support_escalate", {"transfer_id": transfer_id}, now=now,
                    run_at=now + timeout, dedupe_key=f"support_escalate:{transfer_id}")
            if rt.settings.slack_enabled:
                enqueue(session, "support_post_card", {"transfer_id": transfer_id}, now=now,
                        dedupe_key=f"support_post_card:{transfer_id}")
        metrics = self.services.metrics
        metrics.transfers.labels(decision.trigger).inc()
        if decision.trigger == "asked_for_human" and could_answer:
            metrics.human_preference.inc()
        rt.notify_work()
        return transfer_id

    @staticmethod
    def _bot_could_answer(session_messages: list[SupportMessage], message_id: int) -> bool:
        """Whether the bot had a confident answer to the customer's question: this message, or
        (when it only asks for a person) the question before it."""
        customer = [m for m in session_messages if m.role == "customer" and m.id <= message_id]
        current = customer[-1] if customer else None
        if current is not None and (current.meta or {}).get("kb_hit"):
            return True
        questions = [m for m in customer[:-1] if (m.meta or {}).get("question")]
        return bool(questions and (questions[-1].meta or {}).get("kb_hit"))

    def relay(self, conversation_id: str, message_id: int) -> None:
        with self.rt.db.session() as session:
            message = session.get(SupportMessage, message_id)
            if message is None or not message.transfer_id or message.slack_ts:
                return
            if self.rt.settings.slack_enabled:
                enqueue(session, "support_relay", {"message_id": message_id},
                        now=self.rt.clock.now(), dedupe_key=f"support_relay:{message_id}")
        self.rt.notify_work()
