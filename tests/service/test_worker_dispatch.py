"""The dispatcher claims only for free threads, hears at once when one is free, and claims only
the kinds its worker handles (whatever characters their names hold)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from service import jobs
from service.worker import Worker
from store.tables import Job
from tests.fake_slack import wait_until


def test_no_claim_while_every_thread_is_busy_and_a_wake_once_one_is_free(
        rt: Any, claims: list[int]) -> None:
    release = threading.Event()
    ran: list[int] = []

    def block(rt_: Any, payload: dict[str, Any]) -> None:
        ran.append(payload["n"])
        release.wait(30)

    worker = Worker(rt, threads=1, handlers={"block": block})
    try:
        with rt.db.session() as session:
            for n in range(2):
                jobs.enqueue(session, "block", {"n": n}, now=rt.clock.now())
        assert worker.dispatch() == 1
        assert worker.dispatch() == 0  # the only thread is busy: no claim at all
        assert claims == [1]
        worker.wake_event.clear()
        release.set()
        wait_until(lambda: not worker.busy())
        # The thread took the second job itself (jobs.complete), and once its work was done
        # the dispatcher was woken, and counts the thread as free.
        assert ran == [0, 1]
        assert worker.wake_event.is_set()
        assert worker.dispatch() == 0 and claims == [1, 0]
    finally:
        release.set()
        worker.stop()


def test_a_worker_claims_only_its_kinds_even_with_a_quote_in_a_name(rt: Any) -> None:
    ran: list[dict[str, Any]] = []
    worker = Worker(rt, threads=2, handlers={"it's": lambda rt_, payload: ran.append(payload)})
    try:
        with rt.db.session() as session:
            jobs.enqueue(session, "it's", {"n": 1}, now=rt.clock.now())
            jobs.enqueue(session, "someone else's", {"n": 2}, now=rt.clock.now())
        worker.run_until_idle(timeout=30)
    finally:
        worker.stop()
    assert ran == [{"n": 1}]
    with rt.db.read() as session:
        left = session.execute(select(Job.kind, Job.attempts, Job.locked_until)).all()
    assert [(r.kind, r.attempts, r.locked_until) for r in left] == [("someone else's", 0, None)]
