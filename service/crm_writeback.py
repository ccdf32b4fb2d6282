"""Write-back to the CRM (issue 16, item 4): what people decided shows up where the rest of the
company looks.

Three triggers, each queuing a job in the transaction that made the change (so the write exists
exactly when the change does), one job per configured CRM:

- a handoff's first card (and a card for a new holder after an escalation or a reassignment):
  a task for the owner with the why-now summary and the SLA due time, and the lead status the
  mapping gives `handoff_started`;
- every decision: the lead status / lifecycle stage the mapping (HITL_CRM_FILE, `outcomes`)
  gives the decision, or the disposition's reason code for a reject;
- a sent email: logged on the contact;
- the automatic no-response recycle (no person decided): the status the mapping gives
  `recycled` (`no_response`'s when the file has no `recycled`).

Every write has an idempotency key, `crm:{crm}:{write}:{handoff_id}:v{version}` (a status
also names its outcome). It is the job's
dedupe key (queued once), the key the CRM dedupes on (tools/crm), and a ledger entry in the audit
log once the CRM took it (a job run again, by a crash or by hand, does not call the CRM again).
Failures retry through the job queue with `HITL_INTEGRATION_RETRY_HOURS` (kinds `crm_*`), honour
`Retry-After`, and end parked in `GET /v1/jobs?status=failed` with the CRM's answer. Write-back
is off while no CRM is configured (tools/crm/configured.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit import audit
from service.jobs import RetryLater, enqueue
from service.runtime import AppRuntime
from store.tables import Approval, AuditEntry, Handoff, Lead, OutboxMessage

if TYPE_CHECKING:
    from tools.crm.writer import CrmWriter

log = logging.getLogger(__name__)

TASK, STATUS, EMAIL = "crm_owner_task", "crm_lead_status", "crm_log_email"
_WRITE_NAMES = {TASK: "task", STATUS: "status", EMAIL: "email"}
LEDGER_ACTION = "crm_write"


def idempotency_key(crm: str, kind: str, handoff_id: str, version: int,
                    outcome: str | None = None) -> str:
    """`crm:{crm}:{write}:{handoff}:v{version}`, and `:{outcome}` for a status (a first card's
    `handoff_started` and the decision on it share a version)."""
    key = f"crm:{crm}:{_WRITE_NAMES[kind]}:{handoff_id}:v{version}"
    return f"{key}:{outcome}" if outcome else key


def _ledger_id(key: str) -> str:
    """The audit entry's subject id for a key (40 characters fit any key)."""
    return "crmw_" + hashlib.sha256(key.encode()).hexdigest()[:35]


def status_fields(rt: AppRuntime, crm: str, outcome: str) -> dict[str, str]:
    """The CRM fields the mapping sets for an outcome (a decision or a reason code); empty when
    the mapping writes nothing for it."""
    if rt.crm_mapping is None:  # a runtime built by hand: the configured file
        from service.crm_events import load_checked_mapping

        rt.crm_mapping = load_checked_mapping(rt.settings.crm_file)
    values = rt.crm_mapping.outcome(outcome)
    if crm == "hubspot":
        fields = {"lifecyclestage": values.hubspot_lifecyclestage,
                  "hs_lead_status": values.hubspot_lead_status}
    elif crm == "salesforce":
        fields = {"Status": values.salesforce_status}
    else:  # a test double: every value, under our own names
        fields = {k: v for k, v in values.model_dump().items()}
    return {k: v for k, v in fields.items() if v}


def _queue(rt: AppRuntime, session: Session, kind: str, handoff_id: str, version: int, *,
           lead_id: str, now: datetime, **extra: Any) -> None:
    for writer in rt.crm_writers:
        if kind == STATUS and not status_fields(rt, writer.name, extra["outcome"]):
            continue
        key = idempotency_key(writer.name, kind, handoff_id, version, extra.get("outcome"))
        enqueue(session, kind, {"crm": writer.name, "key": key, "handoff_id": handoff_id,
                                "version": version, "lead_id": lead_id, **extra},
                now=now, dedupe_key=key)


# -- triggers (called by the service modules that make the change) ----------------------------

def on_card_opened(rt: AppRuntime, session: Session, handoff: Handoff, approval_id: str,
                   version: int, assignee: str, *, now: datetime) -> None:
    """Before the handoff takes the card's assignee: a first card, or a card for a new holder,
    means a person now owns the follow-up, so the CRM gets a task for them."""
    if not rt.crm_writers:
        return
    first = handoff.carded_at is None
    if not first and handoff.assignee == assignee:
        return  # a revised draft for the same owner: the task they have still stands
    _queue(rt, session, TASK, handoff.id, version, lead_id=handoff.lead_id, now=now,
           approval_id=approval_id)
    if first:
        _queue(rt, session, STATUS, handoff.id, version, lead_id=handoff.lead_id, now=now,
               outcome="handoff_started", approval_id=approval_id)


def on_decision(rt: AppRuntime, session: Session, approval: Approval, action: str,
                payload: dict[str, Any], *, now: datetime) -> None:
    """Every decision: the status the mapping gives it (a reject: its reason code's)."""
    if not rt.crm_writers:
        return
    outcome = (payload.get("reason_code") or action) if action == "reject" else action
    _queue(rt, session, STATUS, approval.handoff_id, approval.version, lead_id=approval.lead_id,
           now=now, outcome=outcome, approval_id=approval.id)


def on_email_sent(rt: AppRuntime, session: Session, message: OutboxMessage, *,
                  now: datetime) -> None:
    """The approved email left: log it on the contact."""
    if not rt.crm_writers:
        return
    approval = session.get(Approval, message.approval_id)
    if approval is None:
        return
    _queue(rt, session, EMAIL, approval.handoff_id, approval.version, lead_id=message.lead_id,
           now=now, approval_id=approval.id, outbox_id=message.id)


def on_recycled(rt: AppRuntime, session: Session, lead_id: str, *, now: datetime) -> None:
    """The automatic no-response recycle (service/nurture.py): no person decided, so the CRM
    hears the mapping's `recycled` status from here. Keyed by the outreach it ends (the handoff
    and version of the last email sent), so a replayed recycle queues nothing new."""
    if not rt.crm_writers:
        return
    from tools.crm.mapping import RECYCLED

    last = session.execute(
        select(Approval.id, Approval.handoff_id, Approval.version)
        .join(OutboxMessage, OutboxMessage.approval_id == Approval.id)
        .where(OutboxMessage.lead_id == lead_id, OutboxMessage.sent_at.is_not(None))
        .order_by(OutboxMessage.sent_at.desc()).limit(1)).first()
    if last is None:
        return  # no outreach of ours: nothing the CRM knows to recycle
    _queue(rt, session, STATUS, last.handoff_id, last.version, lead_id=lead_id, now=now,
           outcome=RECYCLED, approval_id=last.id)


# -- the jobs ---------------------------------------------------------------------------------

def _writer(rt: AppRuntime, crm: str) -> CrmWriter | None:
    return next((w for w in rt.crm_writers if w.name == crm), None)


def _owner_email(rt: AppRuntime, assignee: str | None) -> str | None:
    member = rt.roster.find(assignee)
    return member.email if member else None


def _due_text(due: datetime | None) -> str:
    return f"{due.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if due else "no SLA"


def _owner_task(rt: AppRuntime, session: Session, payload: dict[str, Any]) -> Any:
    from tools.crm.writer import OwnerTask

    approval = session.get(Approval, payload["approval_id"])
    lead = session.get(Lead, payload["lead_id"])
    if approval is None or lead is None or not lead.email:
        return None
    context = approval.context or {}
    who = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.email
    if lead.company:
        who += f" ({lead.company})"
    body = (f"Why now: {context.get('why_now', '')}\n\n"
            f"Band {context.get('band', '?')}, score {context.get('score', '?')}. "
            f"Respond by {_due_text(approval.sla_due_at)} (SLA).\n"
            f"A draft waits for your approval: {rt.settings.public_url.rstrip('/')}"
            f"/v1/approvals/{approval.id}")
    # HubSpot requires a task's date: without an SLA, the card's time.
    task = OwnerTask(contact_email=lead.email, owner_email=_owner_email(rt, approval.assignee),
                     subject=f"Follow up now: {who}", body=body,
                     due_at=approval.sla_due_at or approval.created_at)
    return lambda writer, key: writer.create_owner_task(task, idempotency_key=key)


def _lead_status(rt: AppRuntime, session: Session, payload: dict[str, Any]) -> Any:
    lead = session.get(Lead, payload["lead_id"])
    if lead is None or not lead.email:
        return None
    fields = status_fields(rt, payload["crm"], payload["outcome"])
    if not fields:
        return None
    email = lead.email
    return lambda writer, key: writer.set_lead_status(email, fields, idempotency_key=key)


def _logged_email(rt: AppRuntime, session: Session, payload: dict[str, Any]) -> Any:
    from tools.crm.writer import LoggedEmail

    message = session.get(OutboxMessage, payload["outbox_id"])
    approval = session.get(Approval, payload["approval_id"])
    if message is None or approval is None or not message.to_email or message.sent_at is None:
        return None
    email = LoggedEmail(contact_email=message.to_email,
                        owner_email=_owner_email(rt, approval.assignee),
                        from_email=message.from_email, subject=message.subject,
                        body=message.body, sent_at=message.sent_at,
                        message_id=message.message_id)
    return lambda writer, key: writer.log_email(email, idempotency_key=key)


_PREPARE: dict[str, Callable[[AppRuntime, Session, dict[str, Any]], Any]] = {
    TASK: _owner_task, STATUS: _lead_status, EMAIL: _logged_email}


def run_write(rt: AppRuntime, kind: str, payload: dict[str, Any]) -> None:
    """One write-back job: skipped when the ledger has its key, the lead was erased or the CRM
    is no longer configured; a CRM outage or rate limit is RetryLater (its Retry-After kept);
    a refusal is raised as it is (retried within the budget: an admin may fix the CRM's side,
    e.g. create the key property, then parked with the CRM's words)."""
    from tools.crm.writer import CrmError

    key = payload["key"]
    writer = _writer(rt, payload["crm"])
    if writer is None:
        log.info("CRM %s no longer configured; %s dropped", payload["crm"], key)
        return
    with rt.db.read() as session:
        if session.scalar(select(AuditEntry.id).where(
                AuditEntry.lead_id == payload["lead_id"], AuditEntry.action == LEDGER_ACTION,
                AuditEntry.subject_id == _ledger_id(key)).limit(1)) is not None:
            return
        call = _PREPARE[kind](rt, session, payload)
    if call is None:
        return  # erased meanwhile, or nothing to write
    try:
        external_id = call(writer, key)
    except CrmError as exc:
        if exc.transient:
            raise RetryLater(str(exc), retry_after=exc.retry_after) from exc
        raise
    with rt.db.session() as session:
        audit(session, rt, actor="system", action=LEDGER_ACTION, lead_id=payload["lead_id"],
              subject_id=_ledger_id(key), crm=writer.name, write=_WRITE_NAMES[kind], key=key,
              external_id=external_id, outcome=payload.get("outcome"))


CRM_JOB_HANDLERS: dict[str, Callable[[AppRuntime, dict[str, Any]], None]] = {
    kind: (lambda k: lambda rt, payload: run_write(rt, k, payload))(kind) for kind in _PREPARE}
