"""The job queue hands a finished job's successor to the same thread, and the SQLite writers of
one process, and of every process sharing the file, queue on a lock instead of SQLite's
sleeping busy handler."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, select

from service import jobs
from store.tables import AuditEntry, Job
from tests.fake_slack import wait_until


def test_complete_hands_over_the_next_due_job_in_the_same_transaction(rt: Any, clock: Any
                                                                       ) -> None:
    now = clock.now()
    with rt.db.session() as session:
        for n in range(3):
            jobs.enqueue(session, "noop", {"n": n}, now=now)
    [first] = jobs.claim(rt.db, now=now, lease=timedelta(minutes=5), limit=1)
    assert first.payload == {"n": 0}

    second = jobs.complete(rt.db, first, claim_next=True, now=now,
                           lease=timedelta(minutes=5))
    assert second is not None and second.payload == {"n": 1} and second.attempts == 1
    with rt.db.read() as session:
        rows = {r.id: r for r in session.scalars(select(Job))}
    assert first.id not in rows  # done and gone
    assert rows[second.id].locked_until is not None  # leased to the thread that took it
    # Another worker sees only the job nobody holds.
    assert [j.payload for j in jobs.claim(rt.db, now=now, lease=timedelta(minutes=5),
                                          limit=5)] == [{"n": 2}]
    assert jobs.complete(rt.db, second) is None  # without claim_next nothing is taken


def test_a_chain_of_jobs_runs_on_one_thread_without_going_back_to_the_dispatcher(
        rt: Any, claims: list[int]) -> None:
    from service.worker import Worker

    threads: list[str] = []

    def step(rt_: Any, payload: dict[str, Any]) -> None:
        threads.append(threading.current_thread().name)
        if payload["left"]:
            with rt_.db.session() as session:
                jobs.enqueue(session, "step", {"left": payload["left"] - 1},
                             now=rt_.clock.now())

    worker = Worker(rt, threads=2, handlers={"step": step})
    try:
        with rt.db.session() as session:
            jobs.enqueue(session, "step", {"left": 4}, now=rt.clock.now())
        worker.run_until_idle(timeout=30)
    finally:
        worker.stop()
    assert len(threads) == 5 and len(set(threads)) == 1
    assert sum(claims) == 1  # the dispatcher claimed the first link only


class _TellsWhenContended:
    """The writer lock's thread lock, telling when a thread finds it taken and has to wait."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.contended = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self.lock.acquire(blocking=False):
            return True
        self.contended.set()
        return bool(self.lock.acquire(blocking, timeout))

    def release(self) -> None:
        self.lock.release()


def test_sqlite_writers_of_one_process_take_turns_on_a_lock(rt: Any) -> None:
    assert rt.db.write_lock is not None
    watched = _TellsWhenContended(rt.db.write_lock._thread_lock)
    rt.db.write_lock._thread_lock = watched
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with rt.db.session():
            order.append("first in")
            inside.set()
            # Leave only once the second writer has found the lock taken and waits on it.
            assert watched.contended.wait(10), "the second writer never waited on the lock"
            order.append("first out")

    def second() -> None:
        inside.wait(10)
        with rt.db.session():
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert watched.contended.is_set()
    assert order == ["first in", "first out", "second in"]
    # The checkpointer writes the same file: it queues on the same lock.
    assert rt.checkpointer.lock is rt.db.write_lock


_OTHER_PROCESS_WRITES = """
import sys, time
from store.db import Database
from sqlalchemy import text
db = Database(sys.argv[1])
print("ready", flush=True)
with db.session() as session:
    session.execute(text("INSERT INTO audit_log (at, actor, action, detail, policy_version) "
                         "VALUES (CURRENT_TIMESTAMP, 'other', 'probe', '{}', 'v')"))
print("wrote", flush=True)
"""


def _waits_on_flock(pid: int, path: Path) -> bool:
    """Whether process `pid` is blocked in flock() on `path` (a `->` line in /proc/locks)."""
    inode = f":{path.stat().st_ino} "
    return any(line.split()[1] == "->" and line.split()[5] == str(pid) and inode in line
               for line in Path("/proc/locks").read_text().splitlines())


@pytest.mark.slow
def test_sqlite_writers_of_other_processes_queue_on_the_same_lock(rt: Any) -> None:
    """The server, its worker children and CLI commands write one file: a writer in another
    process waits for this process's writer to finish (on the lock file, not by polling in
    SQLite's busy handler), even before this one has begun its SQLite transaction."""
    import subprocess
    import sys

    assert rt.db.write_lock is not None
    if not Path("/proc/locks").exists():
        pytest.skip("needs Linux's /proc/locks to see the other process wait")
    lock_file = Path(f"{make_url(rt.db.url).database}.writer-lock")
    with rt.db.write_lock:
        other = subprocess.Popen([sys.executable, "-c", _OTHER_PROCESS_WRITES, rt.db.url],
                                 stdout=subprocess.PIPE, text=True)
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "ready"
        # The kernel's own list of lock waiters says when the other writer is queued on ours.
        wait_until(lambda: _waits_on_flock(other.pid, lock_file), timeout=30)
        with rt.db.read() as session:
            assert session.scalar(select(AuditEntry.id).where(AuditEntry.actor == "other")) \
                is None
    assert other.stdout.readline().strip() == "wrote"
    assert other.wait(10) == 0
    with rt.db.read() as session:
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.actor == "other"))
