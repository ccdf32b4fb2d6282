"""On SQLite the graph's checkpointer shares the store's file: its connection is set up as the
store's connections are (store/db.py `_sqlite_pragmas`). In particular it commits as the store
does (WAL, synchronous=NORMAL): with SQLite's default (FULL) every checkpoint commit synced the
shared write-ahead log to disk while holding the writer lock every other writer queues on."""

from __future__ import annotations

from typing import Any


def _pragmas(execute: Any) -> dict[str, Any]:
    return {name: execute(f"PRAGMA {name}") for name in
            ("journal_mode", "synchronous", "secure_delete", "busy_timeout")}


def test_the_checkpointer_connection_is_set_up_like_the_stores(rt: Any) -> None:
    checkpointer = rt.checkpointer.conn
    with rt.db.read_connection() as connection:
        store = _pragmas(lambda sql: connection.exec_driver_sql(sql).scalar())
    ours = _pragmas(lambda sql: checkpointer.execute(sql).fetchone()[0])
    assert ours == store == {"journal_mode": "wal", "synchronous": 1, "secure_delete": 1,
                             "busy_timeout": 30000}
