"""Executing an approved proposal durably: once the click is recorded, the change happens.

The rep's approval is recorded together with an `assistant_execute` job (one transaction: a
recorded approval always has its job). The execution is then tried at once, in the request, so
the rep normally sees "done" in the same answer; the job waits `EXECUTE_GRACE` before a worker
may take it, and is deleted when that first try succeeds (the erasure's cleanup works the same
way). If the try fails (the store, a bug, anything but a refusal of the change itself), the job
stays: the worker retries it with backoff for the job retry budget (`HITL_JOB_RETRY_HOURS`),
then parks it, listed by `GET /v1/jobs?status=failed` and retried by hand with
`POST /v1/jobs/{id}/retry`. A refusal (`ServiceError`: the lead is gone, a handoff is under way)
is an outcome, not a failure: the proposal is `failed` with the reason, and is not retried.

Executed once: the proposal row's `executed_at` is checked before and written after the change
(assistant_actions.execute); a job that runs again after success returns the first result.
The inline try and the job never run together: the job is not due until the grace has passed,
and every execution holds the proposal's lease (service/assistant_threads.py), so a retry by
hand or a second worker waits, then finds it done.

What the rep sees: when the surface passes `notify` (where its answer is, and the job kind
that updates it), every attempt of the job after the first queues that surface job with an
`AssistantReply` saying retrying, failed (parked, with how to retry) or done.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from langgraph.types import Command
from sqlalchemy import delete, select, update

from service.assistant_models import AssistantReply, Proposal
from service.assistant_port import StoreAssistantPort
from service.assistant_threads import DURABILITY, execution_turn, run_context, thread_config
from service.ids import new_id
from service.jobs import enqueue
from service.runtime import AppRuntime
from store.tables import AssistantProposal, Job

log = logging.getLogger(__name__)

EXECUTE_JOB = "assistant_execute"
EXECUTE_GRACE = timedelta(minutes=2)
# What the rep reads: no exception text (it is in the job's `last_error` for whoever retries).
RETRYING = "Approved, but it could not be done yet; it is retried automatically."
PARKED = ("Approved, but it still could not be done after retrying. It is listed under failed "
          "jobs (job {job_id}: `hitl jobs list`, GET /v1/jobs?status=failed) and runs again "
          "with `hitl jobs retry {job_id}`.")


def _dedupe(proposal_id: str) -> str:
    return f"{EXECUTE_JOB}:{proposal_id}"


def queue_execution(rt: AppRuntime, session: Any, proposal: AssistantProposal,
                    notify: dict[str, Any] | None) -> None:
    """In the transaction that records the approval: the job that guarantees the execution.
    `lead_id` rides in the payload so an erasure of the lead deletes the job too."""
    now = rt.clock.now()
    enqueue(session, EXECUTE_JOB,
            {"proposal_id": proposal.id, "lead_id": proposal.lead_id, "notify": notify},
            now=now, run_at=now + EXECUTE_GRACE, dedupe_key=_dedupe(proposal.id))


def execute_now(rt: AppRuntime, proposal_id: str) -> str:
    """The first try, in the request. Returns what to tell the rep; never raises for a failed
    execution (the queued job takes over, and the rep is told it is retrying)."""
    try:
        outcome = _execute(rt, proposal_id)
    except Exception as exc:
        log.exception("assistant proposal %s: execution failed, left to its job", proposal_id)
        error = _error(exc)
        with rt.db.session() as session:
            # Visible at once as retrying (GET /v1/jobs?status=retrying), as a worker would.
            session.execute(update(Job).where(Job.dedupe_key == _dedupe(proposal_id)).values(
                last_error=error, failing_since=rt.clock.now(), attempts=Job.attempts + 1))
            session.execute(update(AssistantProposal)
                            .where(AssistantProposal.id == proposal_id,
                                   AssistantProposal.executed_at.is_(None))
                            .values(result=RETRYING))
        rt.notify_work()
        return RETRYING
    with rt.db.session() as session:  # done: the queued copy is not needed
        session.execute(delete(Job).where(Job.dedupe_key == _dedupe(proposal_id)))
    return outcome


def execute_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`assistant_execute {proposal_id, lead_id, notify}`: a retry of an execution that failed
    (or never finished) in the request. Raises to be retried; tells the rep what happened."""
    proposal_id = payload["proposal_id"]
    try:
        outcome = _execute(rt, proposal_id)
    except Exception:
        job = _running_job(rt, proposal_id)
        now = rt.clock.now()
        # The worker parks it after this raise when its budget is spent (service.worker: this
        # kind has the default budget, HITL_JOB_RETRY_HOURS).
        budget = timedelta(hours=float(rt.settings.job_retry_hours))
        parked = job is not None and now >= (job.failing_since or now) + budget
        text = PARKED.format(job_id=job.id if job else "?") if parked else RETRYING
        with rt.db.session() as session:
            session.execute(update(AssistantProposal)
                            .where(AssistantProposal.id == proposal_id,
                                   AssistantProposal.executed_at.is_(None))
                            .values(result=text[:2000]))
        _tell(rt, payload, "failed" if parked else "approved", text)
        raise
    _tell(rt, payload, None, outcome)


def _execute(rt: AppRuntime, proposal_id: str) -> str:
    """Execute an approved proposal through its graph thread (the HITLRequest interrupt resumed
    with `approve`), or directly when the graph moved past it before; once, whatever happens:
    under the proposal's lease, after reading whether it ran already."""
    with execution_turn(rt, proposal_id):
        return _execute_once(rt, proposal_id)


def _execute_once(rt: AppRuntime, proposal_id: str) -> str:
    with rt.db.read() as session:
        row = session.get(AssistantProposal, proposal_id)
        if row is None:
            return "This proposal no longer exists; nothing was changed."
        if row.executed_at is not None or row.status in ("executed", "failed"):
            return row.result or "Already done."
        if row.status != "approved":
            return f"This proposal was {row.status}; nothing was changed."
        member_key, conversation_key = row.member_key, row.conversation_key
    member = rt.roster.find(member_key)
    if member is None:
        _refuse(rt, proposal_id, "Couldn't do it: the person who approved it is no longer on "
                                 "the team roster.")
        return "Couldn't do it: the person who approved it is no longer on the team roster."
    port = StoreAssistantPort(rt, member, conversation_key=conversation_key)
    config = thread_config(member, conversation_key, proposal_id)
    graph = rt.assistant_graph
    if graph.get_state(config).interrupts:
        state = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config,
                             context=run_context(rt, port), durability=DURABILITY)
        if state.get("outcome"):
            return str(state["outcome"])
    # The graph moved past the interrupt before (a crash after resuming): the record rules.
    return port.execute_proposal(proposal_id)


def _refuse(rt: AppRuntime, proposal_id: str, result: str) -> None:
    with rt.db.session() as session:
        session.execute(update(AssistantProposal)
                        .where(AssistantProposal.id == proposal_id,
                               AssistantProposal.executed_at.is_(None))
                        .values(status="failed", executed_at=rt.clock.now(), result=result))


def _error(exc: Exception) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300]


def _running_job(rt: AppRuntime, proposal_id: str) -> Job | None:
    """This proposal's job row (its dedupe key is cleared when a worker claims it). Few
    executions are ever queued at once, so they are matched here rather than in JSON SQL."""
    with rt.db.read() as session:
        rows = session.scalars(select(Job).where(Job.kind == EXECUTE_JOB)).all()
        job = next((j for j in rows if (j.payload or {}).get("proposal_id") == proposal_id),
                   None)
        if job is not None:
            session.expunge(job)
        return job


def _tell(rt: AppRuntime, payload: dict[str, Any], status: str | None, text: str) -> None:
    """Queue the surface's update of the rep's answer (`notify["job"]`), if it asked for one."""
    notify = payload.get("notify")
    if not isinstance(notify, dict) or not notify.get("job"):
        return
    proposal_id = payload["proposal_id"]
    with rt.db.session() as session:
        row = session.get(AssistantProposal, proposal_id)
        if row is None:
            return
        reply = AssistantReply(
            reply_id=new_id("asr"), conversation_key=row.conversation_key, text=text,
            proposals=[Proposal(proposal_id=proposal_id, action=row.action,  # type: ignore[arg-type]
                                args=dict(row.args), description=row.description,
                                allowed_decisions=[],
                                status=status or row.status)],  # type: ignore[arg-type]
            tools_used=[f"decide_{row.action}"])
        enqueue(session, str(notify["job"]),
                {**notify, "proposal_id": proposal_id, "lead_id": row.lead_id,
                 "reply": reply.model_dump(mode="json")}, now=rt.clock.now())
    rt.notify_work()
