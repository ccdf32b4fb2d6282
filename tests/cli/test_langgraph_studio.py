"""`langgraph dev` serves the graphs langgraph.json names (hitl/studio.py), and a handoff can be
stepped through its HTTP API as LangGraph Studio does: run to the HITLRequest interrupt, answer
with `{"decisions": [...]}`, and the decision is recorded in the store and the email sent.

Slow: starts the LangGraph dev server. Skipped when the optional `studio` extra (langgraph-cli
[inmem]) is not installed (`make studio-env`), never in CI (.ci/run sets HITL_REQUIRE_STUDIO).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bench.server import free_port, server_env
from config.clock import SystemClock
from service.ingest import ingest_events
from service.schemas import EventIn
from store.tables import Decision
from tests.conftest import hand_raise, recent

pytestmark = [pytest.mark.slow, pytest.mark.studio, pytest.mark.timeout(300)]
LANGGRAPH = Path(sys.executable).parent / "langgraph"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> SystemClock:
    """The real clock, as the dev server's: its runs re-qualify the lead on today's signals."""
    return SystemClock()


@pytest.fixture
def dev_server(tmp_path: Path, settings: Any) -> Iterator[str]:
    """`langgraph dev` on the project's langgraph.json, on the test's database; its base URL."""
    try:
        import langgraph_api  # noqa: F401
        installed = LANGGRAPH.exists()
    except ImportError:
        installed = False
    if not installed:
        why = ("the optional `studio` extra (langgraph-cli[inmem]) is not installed: "
               "make studio-env")
        if os.environ.get("HITL_REQUIRE_STUDIO"):
            pytest.fail(why + " (HITL_REQUIRE_STUDIO is set: CI never skips this)")
        pytest.skip(why)
    # The project's own file, its relative paths made absolute, so the server (and its
    # .langgraph_api folder) runs in tmp_path instead of the working tree.
    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str(PROJECT_ROOT)]
    config["graphs"] = {name: str(PROJECT_ROOT / spec.removeprefix("./"))
                        for name, spec in config["graphs"].items()}
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    env = server_env({"HITL_DATABASE_URL": settings.database_url,
                      "HITL_CHROMA_PATH": str(settings.chroma_path), "HITL_EMBEDDINGS": "local",
                      "HITL_SMTP_URL": settings.smtp_url, "LANGSMITH_TRACING": "false"})
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    log = tmp_path / "langgraph-dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(LANGGRAPH), "dev", "--no-browser", "--no-reload", "--port", str(free_port()),
             "--config", str(tmp_path / "langgraph.json")],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield _wait_ready(process, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> str:
    """The server's URL once it answers /ok (it picks another port when asked for a busy one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"langgraph dev exited:\n{log.read_text(errors='replace')[-3000:]}")
        found = re.search(r"API: (?:\x1b\[[0-9;]*m)?(http://127\.0\.0\.1:\d+)",
                          log.read_text(errors="replace"))
        if found:
            try:
                if httpx.get(f"{found[1]}/ok", timeout=1).status_code == 200:
                    return found[1]
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    pytest.fail(f"langgraph dev not ready:\n{log.read_text(errors='replace')[-3000:]}")


def test_studio_steps_a_handoff_through_its_approval(
        rt: Any, worker: Any, smtp_sink: Any, dev_server: str) -> None:
    ingest_events(rt, [EventIn.model_validate(e) for e in hand_raise(at=recent())])
    worker.run_until_idle()  # the product's own run opens the card
    handoff_id = _only_handoff(rt)

    with httpx.Client(base_url=dev_server, timeout=120) as api:
        graphs = {a["graph_id"] for a in api.post("/assistants/search", json={}).json()}
        assert graphs == {"handoff", "support", "assistant"}
        thread = api.post("/threads", json={}).json()["thread_id"]
        run = api.post(f"/threads/{thread}/runs/wait",
                       json={"assistant_id": "handoff", "input": {"handoff_id": handoff_id}})
        assert run.status_code == 200, run.text
        state = api.get(f"/threads/{thread}/state").json()
        assert state["next"] == ["request_approval"]
        [pending] = state["interrupts"]
        assert set(pending["value"]) == {"action_requests", "review_configs"}
        send = pending["value"]["action_requests"][0]
        assert send["name"] == "send_email" and send["args"]["to"] == "ada@acme.io"
        assert smtp_sink.messages == []  # paused: nothing sent

        edited = {"subject": "Demo for Acme: Thursday?", "body": send["args"]["body"]}
        run = api.post(f"/threads/{thread}/runs/wait", json={
            "assistant_id": "handoff", "command": {"resume": {"decisions": [
                {"type": "edit", "edited_action": {"name": "send_email", "args": edited}},
                {"type": "reject"}]}}})
        assert run.status_code == 200, run.text
        state = api.get(f"/threads/{thread}/state").json()
    assert state["next"] == [] and state["values"]["outcome"] == "sent"
    [mail] = smtp_sink.messages
    assert mail.subject == "Demo for Acme: Thursday?"
    with rt.db.read() as session:
        [decision] = session.scalars(select(Decision)).all()
    assert decision.action == "edit" and decision.actor == "U0REP0001"
    assert decision.payload["via"] == "service_token"


def _only_handoff(rt: Any) -> str:
    from store.tables import Handoff

    with rt.db.read() as session:
        [handoff_id] = session.scalars(select(Handoff.id)).all()
    return str(handoff_id)
