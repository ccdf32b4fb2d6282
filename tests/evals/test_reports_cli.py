"""`hitl report`: files and publication on an empty store, and the summary posted to a managers'
Slack channel through slack_sdk's WebClient at SLACK_API_URL (a tiny local Web API here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from typer.testing import CliRunner


class FakeSlackApi:
    """Answers Slack Web API calls on loopback and records them."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answer = answer or {"ok": True, "channel": "C0MANAGERS", "ts": "1763700000.000100"}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                fake.calls.append({"path": self.path, "body": body,
                                   "auth": self.headers.get("Authorization")})
                payload = json.dumps(fake.answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSlackApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HITL_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'hitl.db'}")
    monkeypatch.setenv("HITL_CHROMA_PATH", str(tmp_path / "chroma"))
    monkeypatch.setenv("HITL_EMBEDDINGS", "local")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
                 "SLACK_APP_TOKEN", "HITL_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_report_on_an_empty_store_writes_and_publishes(env: Path) -> None:
    from hitl.cli import app
    from reports.store import latest

    result = CliRunner().invoke(app, ["report", "--out", str(env / "out")])
    assert result.exit_code == 0, result.output
    assert "No handoffs in this window yet" in result.output
    for name in ("kpi-report.html", "kpi-report.json", "kpi-summary.md"):
        assert (env / "out" / name).is_file()
    published = latest(env / "var" / "reports", "kpi")
    assert published is not None and (published / "summary.md").is_file()
    data = json.loads((env / "out" / "kpi-report.json").read_text())
    assert data["empty"] and data["style_examples"]["pairs"] == 0


def test_report_posts_the_summary_to_slack(env: Path, slack: FakeSlackApi,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from hitl.cli import app

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_URL", slack.url)
    result = CliRunner().invoke(app, ["report", "--no-publish", "--slack-channel", "C0MANAGERS"])
    assert result.exit_code == 0, result.output
    assert "posted the summary to C0MANAGERS (ts 1763700000.000100)" in result.output
    [call] = [c for c in slack.calls if c["path"].endswith("chat.postMessage")]
    assert call["auth"] == "Bearer xoxb-test"
    body = call["body"]
    assert body["channel"] == "C0MANAGERS"
    blocks = body["blocks"] if isinstance(body["blocks"], list) else json.loads(body["blocks"])
    assert blocks[0]["text"]["type"] == "mrkdwn"
    assert blocks[0]["text"]["text"].startswith("*Handoff report (last 90 days")


def test_slack_needs_a_token(env: Path) -> None:
    from hitl.cli import app

    result = CliRunner().invoke(app, ["report", "--slack-channel", "C0MANAGERS"])
    assert result.exit_code == 2 and "SLACK_BOT_TOKEN" in result.output


def test_a_slack_refusal_is_reported_plainly(tmp_path: Path) -> None:
    from reports.slack_post import SlackPostError, post_summary
    from tests.conftest import make_settings

    with FakeSlackApi({"ok": False, "error": "channel_not_found"}) as fake:
        settings = make_settings(tmp_path, slack_bot_token="xoxb-test",
                                 slack_signing_secret="s", slack_api_url=fake.url)
        with pytest.raises(SlackPostError, match="Slack refused the message: channel_not_found"):
            post_summary(settings, "C404", "# Report\n\n- one")


def test_markdown_becomes_slack_mrkdwn() -> None:
    from reports.slack_post import _sections, to_mrkdwn

    text = to_mrkdwn("# Eval run: gate **FAILED**\n\n- **SLA** met [report](https://x.test/r)\n\n"
                     "| metric | value |\n|---|---:|\n| routing | 97% |")
    assert text.splitlines()[0] == "*Eval run: gate FAILED*"
    assert "• *SLA* met <https://x.test/r|report>" in text
    assert "```\nmetric  │ value\nrouting │ 97%\n```" in text
    chunks = _sections("line\n" * 2000)
    assert len(chunks) > 1 and all(len(c) <= 2900 for c in chunks)
