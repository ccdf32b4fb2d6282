"""A job that outlives its lease keeps it while it runs (for an hour at most).

A send may wait RFC 5321's ten minutes for the mail server's answer, twice the worker's
five-minute lease: without renewal another thread would claim the same job and run it again
meanwhile. The clock is injected; the job is held on an event."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from service import jobs
from service.worker import MAX_RENEWED_RUN, Worker

LEASE = timedelta(minutes=5)


def _started(rt: Any) -> tuple[Worker, threading.Event]:
    entered, release = threading.Event(), threading.Event()

    def slow(rt: Any, payload: dict[str, Any]) -> None:
        entered.set()
        release.wait(30)

    worker = Worker(rt, threads=1, lease=LEASE, handlers={"slow": slow})
    with rt.db.session() as session:
        jobs.enqueue(session, "slow", {}, now=rt.clock.now())
    assert worker.dispatch() == 1 and entered.wait(10)
    return worker, release


def _claimed_by_another(rt: Any) -> bool:
    return bool(jobs.claim(rt.db, now=rt.clock.now(), lease=LEASE, limit=5, kinds=("slow",)))


def test_a_running_job_keeps_its_lease(rt, clock) -> None:
    worker, release = _started(rt)
    try:
        for _ in range(6):  # 24 minutes, nearly five leases
            clock.advance(minutes=4)
            worker.dispatch()  # the worker's loop: renews, finds nothing else to run
            assert not _claimed_by_another(rt)
    finally:
        release.set()
        worker.stop()


def test_a_job_running_past_the_limit_is_left_to_lapse(rt, clock) -> None:
    """Taken to be hung: another worker may retry it."""
    worker, release = _started(rt)
    try:
        step = LEASE / 3
        for _ in range(int(MAX_RENEWED_RUN / step) + 1):
            clock.advance(seconds=step.total_seconds())
            worker.dispatch()
        clock.advance(seconds=LEASE.total_seconds() + 1)
        assert _claimed_by_another(rt)
    finally:
        release.set()
        worker.stop()


def test_a_lapsed_run_that_ends_late_leaves_the_job_to_its_new_claim(rt, clock) -> None:
    """Taken to be hung and claimed again, it ends after all: the job stays, leased to the
    other worker, whose run decides (tests/service/test_job_fence.py for every outcome)."""
    from sqlalchemy import select

    from store.tables import Job

    worker, release = _started(rt)
    try:
        clock.advance(seconds=(MAX_RENEWED_RUN + LEASE).total_seconds() + 1)
        worker.dispatch()  # past the limit: not renewed
        [again] = jobs.claim(rt.db, now=rt.clock.now(), lease=LEASE, limit=1, kinds=("slow",))
    finally:
        release.set()
        worker.stop()
    with rt.db.read() as session:
        row = session.execute(select(Job.attempts, Job.locked_until)
                              .where(Job.id == again.id)).one()
    assert row.attempts == again.attempts and row.locked_until is not None
