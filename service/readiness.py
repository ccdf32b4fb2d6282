"""Readiness: `/readyz` is 200 once migrations are done and a worker has polled the job queue
since this server started (contract section 6); `/healthz` stays liveness.

The worker may be threads in the server, the server's child process, or a `hitl worker`
elsewhere (`hitl serve --worker none`, PostgreSQL replicas), so the proof travels through the
database: each worker process keeps a row in `worker_heartbeats` and bumps its `beats` counter
when it polls (at its first poll, then at most every `HEARTBEAT_EVERY_S`). A server notes every
row's counter when it starts, before it starts a worker; a new row or a higher counter since
then means a worker took work after the start. Counters, not timestamps: a worker on another
host with a skewed clock still counts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from service.runtime import AppRuntime
    from store.db import Database

log = logging.getLogger(__name__)

# Often enough that a server started beside a running `hitl worker` is ready within seconds;
# rare enough that an idle worker's 0.5 s polls cost no writes.
HEARTBEAT_EVERY_S = 3.0
# Rows of workers gone this long are removed by the next worker that starts.
FORGET_AFTER = timedelta(days=7)


class Heartbeat:
    """One worker process's heartbeat row; `poll()` is called on every poll of the queue and
    writes at the first call, then at most every `HEARTBEAT_EVERY_S` (never raises)."""

    def __init__(self, rt: AppRuntime, every_s: float = HEARTBEAT_EVERY_S) -> None:
        self.rt = rt
        self.id = uuid.uuid4().hex
        self.every_s = every_s
        self.beats = 0
        self._next_at = 0.0  # monotonic
        self._lock = threading.Lock()

    def poll(self) -> None:
        now = time.monotonic()
        if now < self._next_at or not self._lock.acquire(blocking=False):
            return
        try:
            self._next_at = now + self.every_s
            self._write()
        except Exception as exc:  # a missed beat only delays readiness; jobs must go on
            log.warning("worker heartbeat not written: %s: %s", type(exc).__name__, exc)
        finally:
            self._lock.release()

    def _write(self) -> None:
        from sqlalchemy import delete, insert, update

        from store.tables import WorkerHeartbeat

        at = self.rt.clock.now()
        with self.rt.db.transaction() as connection:
            if self.beats and connection.execute(
                    update(WorkerHeartbeat).where(WorkerHeartbeat.id == self.id)
                    .values(beats=WorkerHeartbeat.beats + 1, beat_at=at)).rowcount:
                self.beats += 1
                return
            # First beat (or our row was cleaned away): forget long-gone workers, then insert.
            connection.execute(delete(WorkerHeartbeat)
                               .where(WorkerHeartbeat.beat_at < at - FORGET_AFTER))
            connection.execute(insert(WorkerHeartbeat).values(
                id=self.id, host=socket.gethostname()[:255], pid=os.getpid(),
                started_at=at, beat_at=at, beats=self.beats + 1))
        self.beats += 1


class Readiness:
    """The server's view: built at its start, before it starts any worker."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ready = False
        self._worker_seen = False
        try:
            self._baseline = self._counters()
        except Exception:  # no table yet (migrations pending): every row will be new
            self._baseline = {}

    def _counters(self) -> dict[str, int]:
        # Plain SQL: `hitl serve` reads this before it starts its worker, and the ORM tables'
        # import is better spent after that start (it is on the way to ready).
        with self.db.read() as session:
            rows = session.execute(text("SELECT id, beats FROM worker_heartbeats")).all()
        return {row[0]: int(row[1]) for row in rows}

    def check(self) -> tuple[bool, str | None]:
        """(ready, why not). Once ready, stays ready without touching the database."""
        if self.ready:
            return True, None
        try:
            if not self.db.schema_is_current():
                from store.db import migration_head

                return False, (f"database migrations pending: the schema is at "
                               f"{self.db.schema_version() or 'none'}, this code needs "
                               f"{migration_head()} (run `hitl db upgrade`)")
            if not self._worker_seen:
                counters = self._counters()
                self._worker_seen = any(beats > self._baseline.get(worker_id, 0)
                                        for worker_id, beats in counters.items())
                if not self._worker_seen:
                    return False, ("no worker has polled the job queue since this server "
                                   "started (it may still be starting; with `hitl serve "
                                   "--worker none`, run `hitl worker`)")
        except Exception as exc:
            return False, f"database unreachable: {type(exc).__name__}: {str(exc)[:200]}"
        self.ready = True
        return True, None
