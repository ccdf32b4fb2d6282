"""A real `hitl serve --dev` start: `/readyz` turns 200 and a hand-raise posted then gets its
card; and one server (and one worker) per SQLite file: a second `hitl serve` or `hitl worker`
on the same file refuses to start, naming the process that holds it, while CLI commands such as
`hitl db upgrade` still work beside it. PostgreSQL takes any number of servers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.server import PROJECT_ROOT, ServerProcess, free_port, server_env
from tests.conftest import hand_raise

pytestmark = pytest.mark.slow


def _wait(what: str, predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _ready(server: ServerProcess) -> bool:
    assert server.process is not None
    assert server.process.poll() is None, server.log_tail()
    try:
        return httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _hitl(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hitl.cli", *args], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict]]:
    folder = tmp_path_factory.mktemp("serve")
    env = server_env({"HITL_DATABASE_URL": f"sqlite:///{folder / 'hitl.db'}",
                      "HITL_CHROMA_PATH": str(folder / "chroma"), "HITL_EMBEDDINGS": "local"})
    server = ServerProcess(env, folder / "server")  # no token: `hitl serve --dev`
    server.start(wait=0)
    try:
        yield server, env
    finally:
        server.stop()


def test_serve_becomes_ready_and_the_first_hand_raise_gets_its_card(served: Any) -> None:
    server, _ = served
    _wait("/readyz 200", lambda: _ready(server), timeout=90)
    assert httpx.get(f"{server.url}/readyz").json() == {"ready": True, "reason": None}
    with server.client() as client:
        accepted = client.post("/v1/events", json={"events": hand_raise(
            "ready", at=datetime.now(UTC))})
        assert accepted.status_code == 202, accepted.text
        lead_id = accepted.json()["leads"][0]["lead_id"]
        card = _wait("the approval card", lambda: [
            a for a in client.get("/v1/approvals").json() if a["lead_id"] == lead_id])[0]
    assert card["status"] == "pending"


def test_a_second_server_or_worker_on_the_sqlite_file_is_refused_naming_the_first(
        served: Any) -> None:
    server, env = served
    _wait("/readyz 200", lambda: _ready(server), timeout=90)  # the first holds its locks

    second = _hitl(env, "serve", "--dev", "--port", str(free_port()))
    assert second.returncode != 0
    assert f"pid {server.pid} " in second.stderr, second.stderr
    assert "another hitl server already uses the SQLite database" in second.stderr
    assert "hitl serve" in second.stderr and "since 20" in second.stderr

    worker = _hitl(env, "worker")
    assert worker.returncode != 0
    assert "another hitl worker already uses the SQLite database" in worker.stderr
    assert f"pid {server.pid} " in worker.stderr, worker.stderr

    # Not a second server: commands beside it still work, and the first serves on.
    assert _hitl(env, "db", "upgrade").returncode == 0
    assert _ready(server)


def test_the_lock_goes_with_its_process_and_is_per_sqlite_file(tmp_path: Path) -> None:
    from store.db import Database, DatabaseInUse

    first = Database(f"sqlite:///{tmp_path / 'a.db'}")
    held = first.claim("server", "hitl serve --port 1")
    assert held is not None
    with pytest.raises(DatabaseInUse, match=r"pid \d+ .*\(hitl serve --port 1\), since 20"):
        Database(f"sqlite:///{tmp_path / 'a.db'}").claim("server")
    assert Database(f"sqlite:///{tmp_path / 'b.db'}").claim("server") is not None  # other file
    assert Database(f"sqlite:///{tmp_path / 'a.db'}").claim("worker") is not None  # other role
    held.release()  # as when its process ends, kill -9 included (the kernel drops the flock)
    assert Database(f"sqlite:///{tmp_path / 'a.db'}").claim("server") is not None


@pytest.mark.postgres
def test_postgresql_takes_several_servers(postgres_url: str, tmp_path: Path) -> None:
    from store.db import Database

    assert Database(postgres_url).claim("server") is None
    env = server_env({"HITL_DATABASE_URL": postgres_url, "HITL_CHROMA_PATH": str(tmp_path),
                      "HITL_EMBEDDINGS": "local"})
    Database(postgres_url).upgrade()
    servers = [ServerProcess(env, tmp_path / f"s{n}", name=f"s{n}") for n in range(2)]
    try:
        for server in servers:
            server.start(wait=0)
        for server in servers:
            _wait(f"{server.name} ready", lambda s=server: _ready(s), timeout=90)
    finally:
        for server in servers:
            server.stop()
