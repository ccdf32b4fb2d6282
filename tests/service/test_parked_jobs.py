"""Background work that fails: job time budgets, parked jobs listed and retried (API, audit),
and the watchers of a job kind told in savepoints that cannot undo the job's own record."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from service import jobs
from store.tables import AuditEntry, Job


def test_backoff_doubles_with_jitter_and_is_capped_at_fifteen_minutes() -> None:
    rng = random.Random(7)
    delays = [jobs.backoff(n, rng=rng) for n in range(1, 20)]
    assert all(d <= timedelta(minutes=15) for d in delays)
    assert delays[-1] >= timedelta(minutes=7.5)  # half fixed, half random at the cap
    assert jobs.backoff(3, rng=rng) < jobs.backoff(8, rng=rng)
    # Jitter: the same attempt does not always wait the same time.
    assert len({jobs.backoff(10, rng=rng) for _ in range(5)}) > 1


def _always_failing_worker(rt: Any, calls: list[int], *, fail: bool = True) -> Any:
    from service.worker import Worker

    def flaky(_: Any, payload: dict[str, Any]) -> None:
        calls.append(payload["n"])
        if fail and not payload.get("fixed"):
            raise ConnectionError("the marketing system is down")

    return Worker(rt, threads=1, handlers={"process_lead": flaky})


def _failing_until_parked(client: Any, rt: Any, clock: Any, worker: Any, *,
                          step: timedelta) -> timedelta:
    """Queue one failing `process_lead` job and run the worker every `step` of the clock until
    the job is parked; how long that took."""
    with rt.db.session() as session:
        jobs.enqueue(session, "process_lead", {"n": 1}, now=clock.now())
    started = clock.now()
    while not client.get("/v1/jobs", params={"status": "failed"}).json():
        worker.run_until_idle()
        clock.advance(seconds=step.total_seconds())
        assert clock.now() - started < timedelta(hours=2), "never parked"
    return clock.now() - started


@contextmanager
def _parked_process_lead(client: Any, rt: Any, clock: Any) -> Iterator[list[int]]:
    """A `process_lead` job failed every 5 minutes until parked; the failing handler's calls.
    The worker stops on leaving."""
    calls: list[int] = []
    worker = _always_failing_worker(rt, calls)
    try:
        _failing_until_parked(client, rt, clock, worker, step=timedelta(minutes=5))
        yield calls
    finally:
        worker.stop()


def test_a_failing_job_retries_for_its_time_budget_then_is_parked_and_retryable(
        client, rt, clock) -> None:
    calls: list[int] = []
    worker = _always_failing_worker(rt, calls)
    try:
        took = _failing_until_parked(client, rt, clock, worker, step=timedelta(minutes=1))
        # Default budget for our own work: 1 hour of failing, then parked (not 8 attempts).
        assert timedelta(hours=1) <= took <= timedelta(hours=1, minutes=16)
        assert len(calls) > 8
        [parked] = client.get("/v1/jobs", params={"status": "failed"}).json()
        assert parked["kind"] == "process_lead" and "marketing system is down" in \
            parked["last_error"]
        assert parked["failing_since"] is not None and parked["next_attempt_at"] is None
        metrics = client.get("/metrics").text
        assert 'hitl_jobs_parked{kind="process_lead"} 1.0' in metrics
        assert 'hitl_jobs_failed_total{kind="process_lead"} 1.0' in metrics

        # Parked work stays put until a person retries it.
        clock.advance(hours=5)
        before = len(calls)
        worker.run_until_idle()
        assert len(calls) == before

        with rt.db.session() as session:
            session.execute(Job.__table__.update().values(payload={"n": 1, "fixed": True}))
        retried = client.post(f"/v1/jobs/{parked['job_id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] == "queued"
        worker.run_until_idle()
        assert len(calls) == before + 1
        with rt.db.session() as session:
            assert session.scalars(select(Job)).all() == []
        assert client.post("/v1/jobs/999999/retry").status_code == 404
    finally:
        worker.stop()


def test_a_failure_handler_that_fails_does_not_keep_the_job_from_retrying_or_parking(
        client, rt, clock, monkeypatch) -> None:
    """Telling people runs in a savepoint: when it raises, the job is still rescheduled and
    then parked (and listed), not left leased with no record of its failure."""
    from service import job_watch

    told: list[bool] = []

    def broken_tell(_rt: Any, session: Any, job_id: int, payload: dict[str, Any],
                    parked: bool, error: BaseException) -> None:
        told.append(parked)
        session.execute(Job.__table__.delete())  # undone with the savepoint
        raise RuntimeError("Slack is down")

    monkeypatch.setitem(job_watch.FAILING, "process_lead", broken_tell)
    with _parked_process_lead(client, rt, clock) as calls:
        # told as it starts failing, at the retries a minute or more away, and at the parking;
        # not at the first retries, seconds apart
        assert told[0] is False and told[-1] is True and set(told[1:-1]) <= {False}
        assert 2 < len(told) < len(calls)


def test_a_retry_whose_watcher_fails_still_stands_and_is_audited(
        client, rt, clock, monkeypatch) -> None:
    """Retrying is audited with who asked; a watcher that raises (Slack down) is logged and
    undone alone: the job is due again and the audit entry stays."""
    from service import job_watch

    watched: list[int] = []

    def broken_watcher(_rt: Any, session: Any, job_id: int, payload: dict[str, Any]) -> None:
        watched.append(job_id)
        session.execute(Job.__table__.delete())  # undone with the savepoint
        raise RuntimeError("Slack is down")

    monkeypatch.setitem(job_watch.RETRIED, "process_lead", broken_watcher)
    with _parked_process_lead(client, rt, clock):
        [parked] = client.get("/v1/jobs", params={"status": "failed"}).json()
        retried = client.post(f"/v1/jobs/{parked['job_id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] == "queued"
        assert client.get("/v1/jobs", params={"status": "failed"}).json() == []
        with rt.db.read() as session:
            [entry] = session.scalars(select(AuditEntry).where(
                AuditEntry.action == "job_retry_requested")).all()
            assert session.scalars(select(Job)).all() != []
        assert entry.subject_id == str(parked["job_id"]) and entry.detail["kind"] == "process_lead"
        assert watched == [parked["job_id"]]


def test_status_filters_are_validated(client) -> None:
    assert client.get("/v1/jobs", params={"status": "stuck"}).status_code == 422
    assert client.get("/v1/outbox", params={"status": "lost"}).status_code == 422
    # Ids and limits out of range are named, not a 500 from the database driver.
    for bad in ("360484107453762895872", "0", "-1", "x"):
        response = client.post(f"/v1/jobs/{bad}/retry")
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "job_id"
    assert client.get("/v1/outbox", params={"limit": 10**6}).status_code == 422
    assert client.post("/v1/outbox/out_nope/retry").status_code == 404
    # Every stored approval status is a valid filter (reassigned used to be a 422).
    for status in ("pending", "superseded", "reassigned"):
        assert client.get("/v1/approvals", params={"status": status}).status_code == 200
