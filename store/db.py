"""Engine, sessions and schema migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def _pool_limits(pool_size: int) -> dict[str, int]:
    """Up to twice `pool_size` connections (HITL_DB_POOL_SIZE), each kept once opened.

    As "pool_size kept, as many again in a burst" (SQLAlchemy's overflow), a burst's extra
    connections were closed as each came back and opened again for the next transaction: on
    PostgreSQL 192-229 new sessions (a server process each, and a TLS handshake to a managed
    database) during a burst of 1,000 hand-raises, 19 now (README, "Performance choices").
    The most a process holds is the same; a thread past it waits for one to come back."""
    return {"pool_size": 2 * pool_size, "max_overflow": 0}


class Database:
    """One engine and session factory for the process; built from a URL, never at import."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._schema_current = False
        self.file: Path | None = None  # the SQLite file, when there is one
        if self.is_sqlite:
            db_file = parsed.database if parsed.database not in (None, "", ":memory:") else None
            self.file = Path(db_file) if db_file else None
            if db_file:
                Path(db_file).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30},
                **_pool_limits(pool_size),
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # SQLite gets one writer at a time; BEGIN IMMEDIATE takes the write lock up front so
            # read-then-write transactions never deadlock into "database is locked".
            event.listen(self.engine, "begin", _sqlite_begin)
            # ...and writers queue on a lock, not in SQLite's busy handler (see WriterLock).
            self.write_lock: WriterLock | None = WriterLock(
                Path(f"{db_file}.writer-lock") if db_file else None)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, **_pool_limits(pool_size))
            self.write_lock = None  # PostgreSQL has row locks and many writers
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = self.engine.execution_options(hitl_read_only=True)
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)

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
    def read_connection(self) -> Iterator[Connection]:
        """A read-only transaction on a Core connection, for hot paths that only run Core
        statements: `read()`'s plain BEGIN on SQLite and no writer lock, without a Session
        around the connection (about half of `read()`'s cost)."""
        with self._read_engine.begin() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction on a Core connection, for hot paths that need no ORM unit of work
        (the job queue): the same writer lock and BEGIN IMMEDIATE as `session()`."""
        with self.write_lock or nullcontext(), self.engine.begin() as connection:
            yield connection

    def schema_version(self) -> str | None:
        """The migration the database is at (None before the first)."""
        from sqlalchemy import inspect

        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def schema_is_current(self) -> bool:
        """True when the database is at the newest migration in store/migrations/versions.

        Read without Alembic (half a second of imports at every start); once true, remembered."""
        if not self._schema_current:
            self._schema_current = self.schema_version() == migration_head()
        return self._schema_current

    def upgrade(self, to: str = "head") -> None:
        """Bring the schema to the newest migration, or to revision `to` (serialised across
        replicas on PostgreSQL).

        A database already at the newest one is left alone without importing Alembic, so a
        restart does not pay for it."""
        if to == "head" and self.schema_is_current():
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(74210001)"))
            config.attributes["connection"] = connection
            command.upgrade(config, to)
        self._schema_current = False  # read again next time: another writer may be newer

    def claim(self, role: str, command: str | None = None) -> ProcessLock | None:
        """Make this process the only `role` ("server" or "worker") on this SQLite file for as
        long as it runs; raises `DatabaseInUse` naming the holder. PostgreSQL (any number of
        replicas) and in-memory databases need no claim: None."""
        if self.file is None:
            return None
        lock = ProcessLock(Path(f"{self.file}.{role}-lock"), role, self.file)
        lock.acquire(command)
        return lock

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


@lru_cache(maxsize=1)
def migration_head() -> str | None:
    """The newest revision in store/migrations/versions, read from the files' `revision` and
    `down_revision` lines (the one revision no other revises); None if that is not one."""
    revisions: set[str] = set()
    revised: set[str] = set()
    assignment = re.compile(r"^(revision|down_revision)\s*=\s*['\"]([^'\"]+)['\"]", re.M)
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in assignment.findall(path.read_text(encoding="utf-8")):
            (revisions if name == "revision" else revised).add(value)
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


class DatabaseInUse(RuntimeError):
    """Another process already serves (or works) this SQLite file; the message names it."""


class ProcessLock:
    """One process per role on a SQLite file: an exclusive `flock` of `<db>.<role>-lock`, held
    until the process ends, with the holder (pid, command, since when) written into the file.

    The kernel drops an flock with its process, however it ends (kill -9 included), so a stale
    file never blocks a restart; the text is only read to name the holder. The descriptor is
    not inherited (PEP 446), so children never hold the lock past their parent."""

    def __init__(self, path: Path, role: str, database: Path) -> None:
        self.path = path
        self.role = role
        self.database = database
        self._fd: int | None = None

    def acquire(self, command: str | None = None) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise DatabaseInUse(self._refusal()) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "command": command or " ".join(["hitl", *sys.argv[1:]]),
                  "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def holder(self) -> dict[str, Any]:
        """What the current holder wrote (empty if it has not yet)."""
        try:
            found = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _refusal(self) -> str:
        h = self.holder()
        who = (f"pid {h.get('pid', '?')} on {h.get('host', '?')} ({h.get('command', '?')}), "
               f"since {h.get('since', '?')}") if h else "a process that has not said who it is"
        return (f"another hitl {self.role} already uses the SQLite database {self.database}: "
                f"{who}. One {self.role} per SQLite file: stop that one first, or point "
                f"HITL_DATABASE_URL at another file (PostgreSQL takes any number of replicas). "
                f"Lock file: {self.path}")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


class WriterLock:
    """One SQLite writer at a time, queued rather than polled: threads of this process wait on
    an RLock, and processes sharing the file (the server, its worker children, a CLI command)
    on an exclusive `flock` of `<db>.writer-lock`.

    SQLite's own busy handler sleeps and polls (1, 2, 5, 10 ... up to 100 ms), so a writer
    that found the database locked kept sleeping after it was free: a burst of Slack clicks
    arriving while the worker wrote waited ~100 ms for nothing. A waiter on these locks runs
    the moment the holder releases. Re-entrant, like the RLock it wraps; the busy handler stays
    as the fallback for any writer that does not take this lock (migrations, other tools).
    Why it is kept: README, "Performance choices"."""

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
    # Straight to the driver: `exec_driver_sql` would run BEGIN through SQLAlchemy's whole
    # execution pipeline (context, events, result), ~40 us each, and every transaction has one.
    conn.connection.driver_connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")


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
