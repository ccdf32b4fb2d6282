"""The durable job queue and the workers' heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base


class Job(Base):
    """A durable unit of background work (process a lead, run a graph, deliver mail, a timer).

    Claimed with a lease; on PostgreSQL with FOR UPDATE SKIP LOCKED so replicas never share one.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set while queued so the same work is not queued twice; cleared when claimed.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    run_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The first failure of the current streak: the retry budget is measured from here.
    failing_since: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_jobs_due", "run_at"), Index("ix_jobs_failed", "failed_at", "kind"))


class WorkerHeartbeat(Base):
    """One row per running worker process (`hitl worker`, a `hitl serve` child or its inline
    threads), written when it polls the job queue: at its first poll, then at most every few
    seconds. `/readyz` is 200 once some worker's `beats` moved after the server started, a
    comparison of counters, so it holds across hosts whose clocks differ (migration 0008)."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime] = mapped_column(index=True)
    beats: Mapped[int] = mapped_column(Integer, default=1)
