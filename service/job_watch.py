"""Who hears about a job kind's trouble, and the one door to retrying background work.

Most jobs are listed when they fail for good (`GET /v1/jobs?status=failed`, `hitl_jobs_parked`)
and that is enough. A few stand between a person's decision and its effect, and that person is
looking at a card that must not say "queued" while nothing is moving: for those kinds, the
handlers below are told, in the transaction that records it, when a job fails (at every retry,
so the card's next try is the real one), when it is parked, and when someone retries it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from service import handoffs, jobs
from service.audit import audit
from service.outbox_views import RESUME_JOB
from service.runtime import AppRuntime

# (rt, session, job_id, payload, parked): the job failed and was rescheduled, or was parked.
FAILING: dict[str, Callable[[AppRuntime, Session, int, dict[str, Any], bool], None]] = {
    RESUME_JOB: handoffs.resume_failing,
}
# (rt, session, job_id, payload): a person made the job due again.
RETRIED: dict[str, Callable[[AppRuntime, Session, int, dict[str, Any]], None]] = {
    RESUME_JOB: handoffs.resume_retried,
}


def retry_job(rt: AppRuntime, job_id: int, *, actor: str) -> dict[str, Any] | None:
    """Make a parked or waiting job due now with a fresh budget (the API's and the CLI's
    retry); None when there is no such job. Audited, and whoever watches its kind is told."""

    def retried(session: Session, job: jobs.ClaimedJob) -> None:
        audit(session, rt, actor=actor, action="job_retry_requested",
              lead_id=job.payload.get("lead_id"), subject_id=str(job.id), kind=job.kind)
        tell = RETRIED.get(job.kind)
        if tell is not None:  # if telling fails, the retry and its audit entry still stand
            jobs.tell_in_savepoint(session, job, lambda s: tell(rt, s, job.id, job.payload),
                                   what="retried")

    view = jobs.retry_now(rt.db, job_id, now=rt.clock.now(), on_retry=retried)
    if view is not None:
        rt.notify_work()
    return view
