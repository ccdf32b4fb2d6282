"""`/readyz` (contract section 6): 200 only once migrations are done and a worker has polled the
job queue since the server started; 503 with the reason before. `/healthz` stays liveness."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import select

from bench.server import server_env
from service.readiness import Heartbeat
from store.tables import Base, WorkerHeartbeat
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]


def _app(rt: Any) -> TestClient:
    from api.app import create_app

    return TestClient(create_app(rt))  # no bearer token: /readyz needs none


def test_readyz_is_503_until_a_worker_polls_then_200(rt: Any) -> None:
    from service.worker import Worker

    client = _app(rt)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["ready"] is False
    assert "no worker has polled the job queue" in answer.json()["reason"]
    assert client.get("/healthz").status_code == 200  # alive all along

    worker = Worker(rt, threads=1)
    try:
        worker.run_until_idle()  # polls the queue once: its heartbeat is written
    finally:
        worker.stop()
    assert client.get("/readyz").json() == {"ready": True, "reason": None}
    assert client.get("/readyz").status_code == 200


def test_a_worker_that_polled_before_the_server_started_does_not_count(rt: Any) -> None:
    heartbeat = Heartbeat(rt, every_s=0)  # every poll writes, so the test need not wait
    heartbeat.poll()
    client = _app(rt)  # starts after that poll
    assert client.get("/readyz").status_code == 503
    heartbeat.poll()  # the same worker polls again, after the start
    assert client.get("/readyz").status_code == 200


def test_readyz_names_pending_migrations(tmp_path: Path, clock: Any) -> None:
    from hitl.wiring import build_runtime

    rt = build_runtime(make_settings(tmp_path), clock=clock)  # never migrated
    try:
        client = _app(rt)
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert "database migrations pending" in answer.json()["reason"]
        assert "hitl db upgrade" in answer.json()["reason"]
        rt.db.upgrade()
        assert "no worker has polled" in client.get("/readyz").json()["reason"]
    finally:
        rt.close()


def test_the_heartbeat_writes_at_the_first_poll_then_only_after_its_interval(rt: Any) -> None:
    heartbeat = Heartbeat(rt, every_s=3600)
    for _ in range(20):  # a worker polls every 0.5 s; the database must not see each one
        heartbeat.poll()
    with rt.db.read() as session:
        rows = session.execute(select(WorkerHeartbeat.id, WorkerHeartbeat.beats)).all()
    assert [(row.id, row.beats) for row in rows] == [(heartbeat.id, 1)]


def test_an_upgraded_database_is_recognised_as_current_without_alembic(rt: Any) -> None:
    from store.db import migration_head

    assert rt.db.schema_version() == migration_head() is not None
    assert rt.db.schema_is_current()


def test_migration_0008_matches_the_tables(rt: Any) -> None:
    with rt.db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if "worker_heartbeats" in repr(d)] == []


_OFFLINE_PATH = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime

    import hitl.cli  # the command line, as `hitl serve` loads it
    from api.app import create_app
    from fastapi.testclient import TestClient
    from hitl.wiring import build_runtime
    from service.worker import Worker
    from tests.conftest import hand_raise, make_settings

    rt = build_runtime(make_settings(__import__("pathlib").Path(sys.argv[1])))
    rt.db.upgrade()
    client = TestClient(create_app(rt), headers={"Authorization": "Bearer test-token"})
    assert client.post("/v1/events", json={"events": hand_raise(
        "imp", at=datetime.now(UTC))}).status_code == 202
    worker = Worker(rt, threads=2)
    rt.warm_up()
    worker.run_until_idle(timeout=60)
    worker.stop()
    approvals = client.get("/v1/approvals").json()
    assert approvals and approvals[0]["draft"], approvals
    print(sorted(m for m in sys.modules
                 if m.split(".")[0] in ("openai", "langchain_openai")))
""")


@pytest.mark.slow
def test_the_offline_path_never_imports_the_openai_client(tmp_path: Path) -> None:
    """Serving and drafting offline (no model endpoint) must not pay ~2 s for the OpenAI
    client: a fresh interpreter imports the serve path, ingests a hand-raise and drafts it."""
    env = server_env({})  # this environment without any HITL_/OPENAI_/SLACK_ variable
    done = subprocess.run([sys.executable, "-c", _OFFLINE_PATH, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=110, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
