"""`hitl serve` runs its worker as a supervised child process: the child does the drafting, a
crashed child is replaced, and the child never outlives a killed server."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from bench.server import ServerProcess, server_env
from hitl.worker_process import WORKER_NICENESS
from tests.conftest import hand_raise

pytestmark = pytest.mark.slow


def _workers(server: ServerProcess) -> list[psutil.Process]:
    assert server.pid is not None
    found = []
    for child in psutil.Process(server.pid).children():
        try:
            if "worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # exited (a zombie until its parent reaps it)
            continue
    return found


def _cpus_of_every_thread(worker: psutil.Process) -> set[tuple[int, ...]]:
    """The CPUs each of the worker's threads may run on (one entry if they all agree)."""
    found = set()
    for thread in worker.threads():
        try:
            found.add(tuple(sorted(os.sched_getaffinity(thread.id))))
        except OSError:  # a thread that ended since the listing (a graph run's writer)
            continue
    return found


def _pinning_env(tmp_path: Path) -> dict[str, str]:
    """The CPUs' locks in this test's own temporary folder: servers of other tests running
    beside it cannot have taken them."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return {"TMPDIR": str(folder)}


_PINNABLE = hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2


def _wait(what: str, predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _carded(client: httpx.Client, prefix: str, email: str) -> dict[str, Any]:
    lead = {"email": email, "first_name": "Ada", "last_name": "Park", "company": "Acme",
            "title": "VP Operations", "domain": email.split("@")[1], "country": "US",
            "employees": 850, "industry": "Software", "timezone": "America/Chicago"}
    accepted = client.post("/v1/events", json={"events": hand_raise(
        prefix, lead=lead, at=datetime.now(UTC))})
    assert accepted.status_code == 202, accepted.text
    lead_id = accepted.json()["leads"][0]["lead_id"]
    return _wait(f"a card for {email}", lambda: [
        a for a in client.get("/v1/approvals").json() if a["lead_id"] == lead_id])[0]


def test_the_worker_child_drafts_is_replaced_when_it_dies_and_dies_with_the_server(
        tmp_path: Path) -> None:
    env = server_env({"HITL_DATABASE_URL": f"sqlite:///{tmp_path / 'hitl.db'}",
                      "HITL_CHROMA_PATH": str(tmp_path / "chroma"), "HITL_EMBEDDINGS": "local",
                      "HITL_API_TOKEN": "t0ken", **_pinning_env(tmp_path)})
    server = ServerProcess(env, tmp_path / "server", token="t0ken").start()
    try:
        with server.client() as client:
            [worker] = _wait("the worker child", lambda: _workers(server))
            assert worker.pid != server.pid
            card = _carded(client, "a", "ada@acme.io")
            assert card["status"] == "pending"
            # Second in line for the CPU: the web process answers people first.
            assert worker.nice() == psutil.Process(server.pid).nice() + WORKER_NICENESS
            # Every thread of the worker on one CPU (hitl/cpu_pinning.py); the web process
            # is left to the scheduler.
            if _PINNABLE:
                assert len(_cpus_of_every_thread(worker)) == 1
                assert len(next(iter(_cpus_of_every_thread(worker)))) == 1
                assert os.sched_getaffinity(server.pid) == os.sched_getaffinity(0)

            # A crashed worker is replaced, and the new one picks up the work.
            worker.kill()
            [replacement] = _wait("a new worker child", lambda: [
                w for w in _workers(server) if w.pid != worker.pid])
            assert _carded(client, "b", "bo@beta.io")["status"] == "pending"

            # kill -9 of the server: the worker must not keep running beside the next server.
            server.kill9()
            _wait("the worker to exit with its server", lambda: not replacement.is_running()
                  or replacement.status() == psutil.STATUS_ZOMBIE, timeout=5)
    finally:
        server.stop()


def test_several_worker_children_share_the_queue_and_all_die_with_the_server(
        tmp_path: Path) -> None:
    env = server_env({"HITL_DATABASE_URL": f"sqlite:///{tmp_path / 'hitl.db'}",
                      "HITL_CHROMA_PATH": str(tmp_path / "chroma"), "HITL_EMBEDDINGS": "local",
                      "HITL_API_TOKEN": "t0ken", "HITL_WORKER_PROCESSES": "2",
                      **_pinning_env(tmp_path)})
    server = ServerProcess(env, tmp_path / "server", token="t0ken").start()
    try:
        with server.client() as client:
            workers = _wait("two worker children", lambda: len(_workers(server)) == 2
                            and _workers(server))
            cards = [_carded(client, f"p{n}", f"vp{n}@co{n}.io") for n in range(4)]
            assert [c["version"] for c in cards] == [1, 1, 1, 1]
            approvals = client.get("/v1/approvals").json()
            assert len(approvals) == 4  # each lead drafted once, whichever child took it
            if _PINNABLE:  # each child on a CPU of its own, all its threads there
                pinned = [_cpus_of_every_thread(w) for w in workers]
                assert all(len(p) == 1 and len(next(iter(p))) == 1 for p in pinned)
                assert pinned[0] != pinned[1]
            server.kill9()
            _wait("every worker to exit with its server", lambda: all(
                not w.is_running() or w.status() == psutil.STATUS_ZOMBIE for w in workers),
                timeout=5)
    finally:
        server.stop()
