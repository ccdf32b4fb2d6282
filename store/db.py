"""Engine, sessions and schema migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    """One engine and session factory for the process; built from a URL, never at import."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            db_file = parsed.database if parsed.database not in (None, "", ":memory:") else None
            if db_file:
                Path(db_file).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=pool_size, max_overflow=pool_size,
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # SQLite gets one writer at a time; BEGIN IMMEDIATE takes the write lock up front so
            # read-then-write transactions never deadlock into "database is locked".
            event.listen(self.engine, "begin", _sqlite_begin)
            # ...and writers queue on a lock, not in SQLite's busy handler (see WriterLock).
            self.write_lock: WriterLock | None = WriterLock(
                Path(f"{db_file}.writer-lock") if db_file else None)
        else:
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.write_lock = None  # PostgreSQL has row locks and many writers
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine.execution_options(hitl_read_only=True),
                                           expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any exception."""
        with self.write_lock or nullcontext(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction: on SQLite a plain BEGIN, so readers never queue behind the
        writer lock the way `session()`'s BEGIN IMMEDIATE does."""
        with self._read_sessions.begin() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction on a Core connection, for hot paths that need no ORM unit of work
        (the job queue): the same writer lock and BEGIN IMMEDIATE as `session()`."""
        with self.write_lock or nullcontext(), self.engine.begin() as connection:
            yield connection

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (serialised across replicas on PostgreSQL)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(74210001)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def truncate_wal(self) -> None:
        """Fold the write-ahead log into the database and empty it (SQLite only), so data
        deleted a moment ago does not linger in the -wal file."""
        if self.is_sqlite:
            # On the raw connection: a checkpoint cannot run inside the transaction SQLAlchemy
            # would open (our "begin" hook takes BEGIN IMMEDIATE).
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_lock is not None:
            self.write_lock.close()


class WriterLock:
    """One SQLite writer at a time, queued rather than polled: threads of this process wait on
    an RLock, and processes sharing the file (the server, its worker children, a CLI command)
    on an exclusive `flock` of `<db>.writer-lock`.

    SQLite's own busy handler sleeps and polls (1, 2, 5, 10 ... up to 100 ms), so a writer
    that found the database locked kept sleeping after it was free: a burst of Slack clicks
    arriving while the worker wrote waited ~100 ms for nothing. A waiter on these locks runs
    the moment the holder releases. Re-entrant, like the RLock it wraps; the busy handler stays
    as the fallback for any writer that does not take this lock (migrations, other tools)."""

    def __init__(self, path: Path | None) -> None:
        self._thread_lock = threading.RLock()
        self._depth = 0  # guarded by _thread_lock
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if path is not None else None

    def acquire(self) -> None:
        self._thread_lock.acquire()
        if self._depth == 0 and self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocks without holding the GIL
            except BaseException:
                self._thread_lock.release()
                raise
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _sqlite_begin(conn: Any) -> None:
    read_only = conn.get_execution_options().get("hitl_read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions implicitly; turn that off so the "begin" hook above
    # decides (this is SQLAlchemy's documented recipe for SQLite transactions).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Deleted rows are overwritten, not left in free pages: erasure must not depend on how the
    # local libsqlite3 was compiled.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
