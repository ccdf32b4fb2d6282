"""One turn at a time per conversation, across threads and replicas: a short lease on a row.

A conversation's turn (a customer message in the support inbox, a rep's ask to the assistant)
reads the conversation's checkpoint thread, runs the graph and writes the thread back. Two
turns at once would both start from the same history and the last to finish would drop the
other's. So a turn first takes the conversation's lease: a conditional UPDATE of the row's
`busy_until` from "free or expired" to `now + lease`, which one caller wins (on SQLite and on
PostgreSQL alike); the others wait a little and try again, then give up with a Conflict (409).
An expired lease (a process died mid-turn) is free again, so nothing stays stuck.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from service.errors import Conflict
from service.jobs import insert_ignoring_conflicts
from service.runtime import AppRuntime

POLL_S = 0.05


@contextmanager
def turn_lease(rt: AppRuntime, table: Any, key: str, *, lease: timedelta, wait_s: float,
               new_row: Callable[[datetime], dict[str, Any]], busy: str,
               key_column: str = "id", lease_column: str = "busy_until") -> Iterator[None]:
    """Hold the lease on `table`'s row `key` while the block runs; wait up to `wait_s` seconds
    for a running turn to finish, then raise Conflict(`busy`).

    `new_row(now)` is the row to create when the conversation has none yet (inserted unless
    present, so the first turn of a new conversation takes the lease like any other)."""
    key_col, lease_col = getattr(table, key_column), getattr(table, lease_column)
    deadline = time.monotonic() + wait_s
    while True:
        now = rt.clock.now()
        with rt.db.session() as session:
            session.execute(insert_ignoring_conflicts(
                session, table, [{key_column: key, **new_row(now)}], [key_column]))
            won = session.execute(
                update(table).where(key_col == key, lease_col.is_(None) | (lease_col < now))
                .values({lease_column: now + lease})).rowcount  # type: ignore[attr-defined]
        if won == 1:
            break
        if time.monotonic() > deadline:
            raise Conflict(busy)
        time.sleep(POLL_S)
    try:
        yield
    finally:
        with rt.db.session() as session:
            session.execute(update(table).where(key_col == key).values({lease_column: None}))
