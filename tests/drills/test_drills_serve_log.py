"""What a real `hitl serve --dev` writes to its log, the web process's and the worker's lines:
one format for all of them (uvicorn's access lines too), no email address in any line (an
erasure request for an address would otherwise write it there), no line per HTTP request the
worker sends, and no start-up warning about a token that is in fact used (config/logs.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bench.fake_slack import FakeSlack
from bench.server import ServerProcess, server_env
from tests.conftest import LEAD_ADA, hand_raise

pytestmark = pytest.mark.slow

RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
                    r"[\w.]+: ")


def test_the_servers_log_has_one_format_and_no_email_address(tmp_path) -> None:
    token = "xoxb-log-test"
    with FakeSlack(token=token) as slack:
        env = server_env({
            "HITL_DATABASE_URL": f"sqlite:///{tmp_path / 'hitl.db'}",
            "HITL_CHROMA_PATH": str(tmp_path / "chroma"), "HITL_EMBEDDINGS": "local",
            # As a deployment sets them: Bolt reads this variable itself as well.
            "SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": "log-test",
            "SLACK_API_URL": slack.url, "HITL_SLACK_APPROVALS_CHANNEL": "C0APPROVALS"})
        server = ServerProcess(env, tmp_path / "server")
        server.start()
        try:
            lead = {**LEAD_ADA, "email": "jane.doe@northwind.example"}
            with server.client() as client:
                found = client.get("/v1/leads", params={"email": "Jane.Doe@northwind.example"})
                assert found.status_code == 200 and found.json() == []
                assert client.delete("/v1/customers/nobody@northwind.example").status_code == 404
                assert client.post("/v1/events", json={"events": hand_raise(
                    "log", lead=lead, at=datetime.now(UTC))}).status_code == 202
            # The worker drafted and posted over HTTP. (uvicorn writes a request's access line
            # as its answer starts, so the lines read below are written by now.)
            slack.wait_for_cards(1, timeout=60)
        finally:
            server.stop()
    lines = server.log_path.read_text().splitlines()

    assert not [line for line in lines if "northwind" in line.lower() or "jane" in line.lower()]
    assert any('"DELETE /v1/customers/‹email› HTTP/1.1" 404' in line for line in lines)
    assert any('"GET /v1/leads?email=‹email› HTTP/1.1" 200' in line for line in lines)
    assert not [line for line in lines if "HTTP Request:" in line]  # httpx's line per call
    assert not [line for line in lines if "will be unused" in line]  # Bolt's, about the token
    # Every record in our format; what is not a record is the CLI's own output.
    records = [line for line in lines if RECORD.match(line)]
    assert any("uvicorn.access:" in line for line in records)
    assert any("hitl.worker_process:" in line for line in records)
    others = [line for line in lines if not RECORD.match(line)]
    assert not [line for line in others if not line.startswith("content library:")], others
