"""Drill: schemathesis against the OpenAPI schema of a live `hitl serve` finds no 5xx.

Two runs with the `not_a_server_error` check, bounded so the drill takes a couple of minutes:
1. the schema exactly as `/openapi.json` serves it;
2. the same schema made reachable: the request body of `POST /v1/events` taken from the
   service's own input models (the served schema used to point at undefined components) and
   the path parameters narrowed to ids that exist (a lead with a card), so generated requests
   get past the 404s into the real logic.
A failure prints schemathesis's report, which includes a curl command for each failing request.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.fake_slack import FakeSlack
from bench.server import ServerProcess, server_env
from tests.conftest import assert_fresh, hand_raise, recent

TOKEN = "fuzz-token"
MAX_EXAMPLES = "40"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with FakeSlack(token="xoxb-fuzz") as slack:
        env = server_env({
            "HITL_DATABASE_URL": f"sqlite:///{tmp / 'hitl.db'}",
            "HITL_CHROMA_PATH": str(tmp / "chroma"), "HITL_API_TOKEN": TOKEN,
            "HITL_EMBEDDINGS": "local", "SLACK_BOT_TOKEN": "xoxb-fuzz",
            "SLACK_SIGNING_SECRET": "fuzz", "SLACK_API_URL": slack.url})
        server = ServerProcess(env, tmp / "server", token=TOKEN).start()
        try:
            yield {"server": server, "tmp": tmp}
        finally:
            server.stop()


def _schemathesis(location: str, base_url: str | None, report: Path) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "schemathesis.cli", "run", location,
            "--checks", "not_a_server_error", "-H", f"Authorization: Bearer {TOKEN}",
            "-n", MAX_EXAMPLES, "--phases", "examples,coverage,fuzzing", "--seed", "7",
            "--max-time", "90", "--request-timeout", "30", "--no-color", "-w", "1",
            "--report", "junit", "--report-junit-path", str(report)]
    if base_url:
        args += ["--url", base_url]
    # cwd: schemathesis keeps its example database in ./.schemathesis
    return subprocess.run(args, capture_output=True, text=True, timeout=400, cwd=report.parent)


def _reachable_schema(server: ServerProcess) -> dict[str, Any]:
    from service.schemas import EventBatchIn

    with server.client() as client:
        # Dated from now: the server reads the real clock, and an aged-out hand-raise would
        # leave no approval, so the approval paths would only ever be fuzzed with 404s.
        events = hand_raise("fuzz", at=recent())
        assert_fresh(events)
        posted = client.post("/v1/events", json={"events": events})
        assert posted.status_code == 202, posted.text
        lead_id = posted.json()["leads"][0]["lead_id"]
        import time

        approvals: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while not approvals and time.monotonic() < deadline:
            approvals = client.get("/v1/approvals").json()
            time.sleep(0.1)
        assert approvals, f"no card for the fuzz lead:\n{server.log_tail()}"
        schema = client.get("/openapi.json").json()
    batch = EventBatchIn.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema["components"]["schemas"]
    components.update(batch.pop("$defs", {}))
    components["EventBatchIn"] = batch
    ids = {"lead_id": [lead_id], "approval_id": [a["approval_id"] for a in approvals][:1]}
    for path in schema["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                values = ids.get(parameter.get("name"))
                if parameter.get("in") == "path" and values:
                    parameter["schema"] = {"type": "string", "enum": values}
    return schema


# Above the 400 s given to schemathesis (a 90 s budget it spends in full, plus its
# start): the default 120 s cut the first run off once setup had started the server.
@pytest.mark.timeout(500)
def test_no_server_error_on_the_served_schema(live: dict[str, Any]) -> None:
    server: ServerProcess = live["server"]
    report = live["tmp"] / "served.xml"
    result = _schemathesis(f"{server.url}/openapi.json", None, report)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


@pytest.mark.timeout(500)
def test_no_server_error_past_the_404s(live: dict[str, Any]) -> None:
    server: ServerProcess = live["server"]
    path = live["tmp"] / "reachable-openapi.json"
    path.write_text(json.dumps(_reachable_schema(server)))
    report = live["tmp"] / "reachable.xml"
    result = _schemathesis(str(path), server.url, report)
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
