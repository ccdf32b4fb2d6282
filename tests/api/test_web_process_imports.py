"""What the web process loads: the HTTP API and the Slack surface, not the worker's engines.

`hitl serve` runs the web process beside its worker child; the web process answers requests
and Slack, and queues the rest. Each of these libraries is the worker's and costs the web
process memory it keeps for its life (each alone, measured here: LangGraph with langchain-core
~60 MB, httpx ~17 MB because it loads its command line with rich and pygments whenever click is
installed, numpy ~14 MB); before this test the web process had come to import all three
through one module each (a Slack job module importing the worker for a retry budget, a
support module importing numpy for a dot product, the Slack and HubSpot clients importing
httpx at the top), 26 MB more at rest, over the bench's 400 MB goal for the server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.server import server_env

ROOT = Path(__file__).resolve().parents[2]
WORKER_ONLY = ("langgraph", "langchain_core", "langchain_openai", "openai", "numpy", "chromadb",
               "httpx", "rich")

_WEB_PROCESS = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    import hitl.cli  # the command line, as `hitl serve` loads it
    from api.app import create_app
    from config.settings import load_settings
    from fastapi.testclient import TestClient
    from hitl.wiring import build_runtime
    from service.readiness import Readiness

    folder, slack_url, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
    settings = load_settings(
        database_url=f"sqlite:///{folder / 'hitl.db'}", chroma_path=folder / "chroma",
        chroma_url=None, api_token="t0ken", openai_api_key=None, openai_base_url=None,
        embeddings="local", slack_bot_token="xoxb-test", slack_signing_secret="secret",
        slack_app_token=None, slack_api_url=slack_url, smtp_url=None)
    rt = build_runtime(settings)
    rt.db.upgrade()
    now = datetime.now(UTC)
    lead = {"email": "ada@acme.io", "first_name": "Ada", "company": "Acme"}
    events = [{"event_id": "w-1", "type": "form_submit", "occurred_at": now.isoformat(),
               "lead": lead, "properties": {"form": "demo"}}]
    app = create_app(rt, worker=None, readiness=Readiness(rt.db))
    with TestClient(app, headers={"Authorization": "Bearer t0ken"}) as client:
        assert client.post("/v1/events", json={"events": events}).status_code == 202
        assert client.get("/v1/approvals").status_code == 200
        assert client.get("/readyz").status_code in (200, 503)
        # A Slack request reaches Bolt (refused: unsigned) with its listeners registered.
        assert client.post("/slack/events", content=b"{}").status_code == 401
    print(sorted({m.split(".")[0] for m in sys.modules} & set(names)))
""")


@pytest.mark.slow
def test_the_web_process_loads_none_of_the_workers_libraries(tmp_path: Path,
                                                              fake_slack) -> None:  # type: ignore[no-untyped-def]
    env = server_env({})  # this environment without any HITL_/OPENAI_/SLACK_ variable
    done = subprocess.run(
        [sys.executable, "-c", _WEB_PROCESS, str(tmp_path), fake_slack.url + "/",
         ",".join(WORKER_ONLY)], cwd=ROOT, capture_output=True, text=True, timeout=110, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
