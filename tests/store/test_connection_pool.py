"""A process's database pool keeps the connections a burst opened (store/db.py `_pool_limits`):
with SQLAlchemy's overflow, those beyond the kept ones were closed as they came back and opened
again by the next burst (on PostgreSQL a server process and, to a managed database, a TLS
handshake each). The most it holds is unchanged: twice HITL_DB_POOL_SIZE."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy import event, exc

from store.db import Database


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_second_burst_reuses_the_connections_the_first_opened(database_url: str) -> None:
    db = Database(database_url, pool_size=2)
    opened: list[int] = []
    event.listen(db.engine, "connect", lambda *_: opened.append(1))
    try:
        for _ in range(2):  # two bursts, each holding four connections at once
            with ExitStack() as burst:
                for _ in range(4):
                    burst.enter_context(db.engine.connect())
        assert len(opened) == 4
        # No more than twice the setting at once: a fifth waits for one to come back (here
        # for 10 ms instead of the pool's 30 s) and is never opened.
        db.engine.pool._timeout = 0.01  # type: ignore[attr-defined]
        with ExitStack() as burst:
            for _ in range(4):
                burst.enter_context(db.engine.connect())
            with pytest.raises(exc.TimeoutError):
                db.engine.connect()
        assert len(opened) == 4
    finally:
        db.dispose()
