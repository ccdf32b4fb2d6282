"""Nurture enrolment after a lead is recycled: a durable job that enrols it in the track its
disposition names in the marketing-automation system (or records why it could not)."""

from __future__ import annotations

from typing import Any

from service.audit import audit
from service.jobs import RetryLater, enqueue
from service.runtime import AppRuntime
from store.tables import Lead


def enqueue_enrolment(rt: AppRuntime, session: Any, lead_id: str, track: str, *, reason: str,
                      key: str) -> None:
    enqueue(session, "nurture_enrol", {"lead_id": lead_id, "track": track, "reason": reason,
                                       "key": key},
            now=rt.clock.now(), dedupe_key=f"enrol:{key}")


def enrol(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """Enrol a lead in a pre-approved nurture track in the marketing-automation system."""
    from tools.marketing import EnrolmentError

    with rt.db.session() as session:
        lead = session.get(Lead, payload["lead_id"])
        if lead is None or not lead.email:
            return  # erased meanwhile
        email = lead.email
    target = rt.marketing
    status = "enrolled"
    if target is None:
        status = "not_enrolled: no marketing automation configured"
    else:
        try:
            target.enroll(lead_id=payload["lead_id"], email=email, track=payload["track"],
                          reason=payload["reason"], idempotency_key=payload["key"])
        except EnrolmentError as exc:
            if exc.transient:
                raise RetryLater(str(exc)) from exc
            status = f"failed: {exc}"
    with rt.db.session() as session:
        audit(session, rt, actor="system", action="nurture_enrolment",
              lead_id=payload["lead_id"], track=payload["track"], reason=payload["reason"],
              status=status)
    rt.metrics.nurture_enrolments.labels(track=payload["track"],
                                         status=status.split(":")[0]).inc()
