"""The background worker: claims due jobs and runs them on a thread pool.

`hitl serve` runs one per process (any number of processes may share a PostgreSQL database);
tests and the demo call `run_until_idle()` to drive it deterministically.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from service import handoffs, job_watch, jobs, leads, nurture, outbox
from service.crm_writeback import CRM_JOB_HANDLERS
from service.jobs import RetryLater, retry_budget
from service.outbox import release_send_leases
from service.outbox_views import RESUME_JOB
from service.readiness import Heartbeat
from service.runtime import AppRuntime
from service.support_jobs import SUPPORT_JOB_HANDLERS

log = logging.getLogger(__name__)

Handler = Callable[[AppRuntime, dict[str, Any]], None]

def _process_lead(rt: AppRuntime, payload: dict[str, Any]) -> None:
    leads.process_lead(rt, payload["lead_id"])


# The handlers below import their module when a job of their kind first runs: a one-shot
# `hitl ingest` processes leads (the lead and handoff code above) and should not load the SLA
# rescue, erasure, assistant or HubSpot code at start (tests/cli/test_ingest_startup.py).


def _sync_style_examples(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.edit_pairs import sync_edit_pairs

    sync_edit_pairs(rt)


def _check_sla(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.rescue import check_sla

    check_sla(rt, payload)


def _deliver_notice(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.notices import deliver_notice

    deliver_notice(rt, payload)


def _erasure_cleanup(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.erasure_cleanup import cleanup_job

    cleanup_job(rt, payload)


def _execute_assistant_action(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.assistant_execution import execute_job

    execute_job(rt, payload)


def _hubspot_deliveries(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.crm_inbound import hubspot_deliveries_job

    hubspot_deliveries_job(rt, payload)


# service.assistant_execution.EXECUTE_JOB, spelt out so that naming the kind does not load the
# assistant (tests/cli/test_ingest_startup.py holds them equal).
EXECUTE_JOB = "assistant_execute"


HANDLERS: dict[str, Handler] = {
    "deliver_email": outbox.deliver_job,
    "process_lead": _process_lead,
    "run_handoff": lambda rt, p: handoffs.run_handoff(rt, p["handoff_id"]),
    RESUME_JOB: lambda rt, p: handoffs.resume_handoff(rt, p["handoff_id"], p["decision_id"]),
    "sla_check": _check_sla,
    "deliver_email_notice": _deliver_notice,  # SLA notices by email (service/notices.py)
    "nurture_enrol": nurture.enrol,
    "no_response_check": nurture.check_no_response,  # recycle after unanswered outreach
    "sync_style_examples": _sync_style_examples,
    "erasure_cleanup": _erasure_cleanup,
    EXECUTE_JOB: _execute_assistant_action,  # an approved assistant proposal, retried until done
    "crm_hubspot_deliveries": _hubspot_deliveries,
    **SUPPORT_JOB_HANDLERS,
    **CRM_JOB_HANDLERS,  # CRM write-back (service/crm_writeback.py)
}


def release_leases(rt: AppRuntime) -> None:
    """After a crash of the only worker (SQLite): make its leased jobs and sends due again."""
    jobs.release_all_leases(rt.db)
    release_send_leases(rt)


# Leases of running jobs are renewed (every third of a lease) for this long at most: a job
# running longer is taken to be hung, and its lease lapses so that another worker retries it.
MAX_RENEWED_RUN = timedelta(hours=1)


class Worker:
    def __init__(self, rt: AppRuntime, *, threads: int | None = None,
                 lease: timedelta = timedelta(minutes=5), poll_seconds: float = 0.5,
                 handlers: dict[str, Handler] | None = None) -> None:
        self.rt = rt
        self.threads = threads or rt.settings.worker_threads
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.handlers = dict(HANDLERS if handlers is None else handlers)
        if handlers is None:
            self.handlers.update(rt.job_handlers)  # the surfaces' jobs (hitl.wiring)
        self._kinds = tuple(self.handlers)  # what this worker claims, kept with `handlers`
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="hitl-job")
        self._inflight: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._dispatching = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_free = self.threads
        # job id -> (its claim's attempt number, when it started here): whose leases to renew
        self._running: dict[int, tuple[int, datetime]] = {}
        self._renewed_at = rt.clock.now()
        self._thread: threading.Thread | None = None
        rt.wake_worker = self._wake.set
        self.heartbeat = Heartbeat(rt)  # /readyz: this worker polls the queue

    @property
    def wake_event(self) -> threading.Event:
        """Set it to make the worker look for due jobs now (e.g. from another process's ping)."""
        return self._wake

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler
        self._kinds = tuple(self.handlers)

    # -- one job ---------------------------------------------------------------------------

    def _run(self, job: jobs.ClaimedJob | None) -> None:
        """Run a job, then the next due one while there is one (see `jobs.complete`)."""
        while job is not None:
            job = self._run_one(job)

    def _finished(self, future: Future[None]) -> None:
        """A thread is free (called once its future is done, whatever the outcome): forget the
        future and wake the dispatcher, which now counts that thread as free."""
        with self._lock:
            self._inflight.discard(future)
        self._wake.set()

    def _run_one(self, job: jobs.ClaimedJob) -> jobs.ClaimedJob | None:
        with self._lock:
            self._running[job.id] = (job.attempts, self.rt.clock.now())
        try:
            return self._run_handler(job)
        finally:
            with self._lock:
                self._running.pop(job.id, None)

    def _run_handler(self, job: jobs.ClaimedJob) -> jobs.ClaimedJob | None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            with jobs.running(job):
                handler(self.rt, job.payload)
        except Exception as exc:  # every failure is retried or parked, never lost
            transient = isinstance(exc, RetryLater)
            (log.info if transient else log.exception)("job %s %s failed: %s", job.id, job.kind,
                                                       exc)
            tell, failure = job_watch.FAILING.get(job.kind), exc
            if not jobs.retry_later(self.rt.db, job, f"{type(exc).__name__}: {exc}",
                                    now=self.rt.clock.now(),
                                    budget=retry_budget(self.rt.settings, job.kind),
                                    not_before=getattr(exc, "retry_after", None),
                                    on_failure=tell and (lambda session, parked: tell(
                                        self.rt, session, job.id, job.payload, parked,
                                        failure))):
                self.rt.metrics.jobs_failed.labels(job.kind).inc()
            return None
        return jobs.complete(self.rt.db, job, claim_next=not self._stop.is_set(),
                             now=self.rt.clock.now(), lease=self.lease, kinds=self._kinds)

    def dispatch(self) -> int:
        """Claim as many due jobs as there are free threads; returns how many started."""
        # One dispatcher at a time, and `busy()` waits for it: a job claimed but not yet
        # registered as running must never look like "nothing to do" to another caller.
        self.heartbeat.poll()
        self._renew_leases()
        with self._dispatching:
            with self._lock:  # a future leaves the set once done (`_finished`): no scan
                free = self.threads - len(self._inflight)
            self._last_free = free
            if free <= 0:
                return 0  # no claim while every thread is busy: one will wake us when free
            claimed = jobs.claim(self.rt.db, now=self.rt.clock.now(), lease=self.lease,
                                 limit=free, kinds=self._kinds)
            for job in claimed:
                future = self._pool.submit(self._run, job)
                with self._lock:
                    self._inflight.add(future)
                future.add_done_callback(self._finished)  # at once if already done
            return len(claimed)

    def _renew_leases(self) -> None:
        """Every third of a lease, extend the leases of the jobs running here (up to
        MAX_RENEWED_RUN each)."""
        now = self.rt.clock.now()
        if now - self._renewed_at < self.lease / 3:
            return
        self._renewed_at = now
        with self._lock:
            running = [(job_id, attempt) for job_id, (attempt, started) in self._running.items()
                       if now - started < MAX_RENEWED_RUN]
        jobs.renew_leases(self.rt.db, running, now=now, lease=self.lease)

    def busy(self) -> bool:
        with self._dispatching, self._lock:
            return any(not f.done() for f in self._inflight)

    def run_until_idle(self, timeout: float = 120.0) -> None:
        """Run until no job is due and none is running (tests, demo, CLI ingest)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._wake.clear()
            # Look at running jobs *before* claiming: a job finishing between an empty claim and
            # the check could have queued follow-up work the claim did not see.
            was_busy = self.busy()
            started = self.dispatch()
            if not started and not was_busy:
                return
            self._wake.wait(0.05)
        raise TimeoutError(f"worker still busy after {timeout}s")

    # -- background loop -------------------------------------------------------------------

    def start(self, *, sole_worker: bool = True) -> None:
        """`sole_worker`: no other worker shares this SQLite database (the default, and true of
        a lone `hitl serve`); then leases left by a killed predecessor are void at once."""
        if self.rt.db.is_sqlite and sole_worker:
            release_leases(self.rt)
        self._thread = threading.Thread(target=self._loop, name="hitl-worker", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                started = self.dispatch()
            except Exception:
                log.exception("worker dispatch failed; retrying")
                started = 0
            # A full batch may mean more is waiting; otherwise (or with every thread busy) sleep
            # until a job finishes, new work arrives or a timer may be due.
            if started == 0 or started < self._last_free:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
