"""The CLI and configuration as a user meets them: `hitl serve` driven over HTTP from outside,
`hitl ingest`, and clear errors for every configuration mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from config.settings import ConfigError, load_settings
from tests.conftest import hand_raise

ROOT = Path(__file__).resolve().parents[2]
HITL = str(Path(sys.executable).with_name("hitl"))


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "SLACK_", "HITL_"))}
    env.update(HITL_DATABASE_URL=f"sqlite:///{tmp_path / 'hitl.db'}",
               HITL_CHROMA_PATH=str(tmp_path / "chroma"), HITL_EMBEDDINGS="local", **extra)
    return env


@pytest.mark.slow
def test_serve_refuses_to_start_without_a_token(tmp_path) -> None:
    done = subprocess.run([HITL, "serve", "--port", "1"], env=clean_env(tmp_path),
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert "HITL_API_TOKEN" in done.stderr and "--dev" in done.stderr


@pytest.mark.slow
def test_serve_end_to_end_over_http_with_smtp(tmp_path, smtp_sink) -> None:
    from tools.smtp_sink import free_port

    port = free_port()
    env = clean_env(tmp_path, HITL_API_TOKEN="s3cret", HITL_SMTP_URL=smtp_sink.url)
    server = subprocess.Popen([HITL, "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer s3cret"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, \
                server.stderr.read().decode()[-2000:] if server.stderr else "server died"
            time.sleep(0.2)
        assert httpx.post(f"{base}/v1/events", json={"events": hand_raise()}).status_code == 401
        # Events from "now" so the hand-raise is fresh for the server's real clock.
        from datetime import UTC, datetime

        accepted = httpx.post(f"{base}/v1/events", headers=auth,
                              json={"events": hand_raise(at=datetime.now(UTC))})
        assert accepted.status_code == 202 and accepted.json()["accepted"] == 3
        cards: list = []
        while not cards and time.monotonic() < deadline:
            cards = httpx.get(f"{base}/v1/approvals", headers=auth).json()
            time.sleep(0.1)
        [card] = cards
        assert smtp_sink.messages == []
        decided = httpx.post(f"{base}/v1/approvals/{card['approval_id']}/decision",
                             headers=auth, json={"action": "approve", "actor": card["assignee"]})
        assert decided.status_code == 200
        while not smtp_sink.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        [mail] = smtp_sink.messages
        assert mail.rcpt_tos == ["ada@acme.io"]
        metrics = httpx.get(f"{base}/metrics", headers=auth).text  # not public by default
        assert 'hitl_emails_total{status="sent"} 1.0' in metrics
        assert httpx.get(f"{base}/docs").status_code == 200
        assert "/v1/events" in httpx.get(f"{base}/openapi.json").json()["paths"]
    finally:
        server.terminate()
        server.wait(20)


@pytest.mark.slow
def test_ingest_jsonl_and_csv(tmp_path) -> None:
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps(e) for e in hand_raise()) + "\n")
    csv = tmp_path / "events.csv"
    csv.write_text("event_id,type,occurred_at,email,first_name,country,employees,form\n"
                   "c-1,form_submit,2026-11-18T14:00:00Z,zoe@zeta.io,Zoe,US,300,demo\n")
    env = clean_env(tmp_path)
    for path, accepted in ((jsonl, 3), (csv, 1)):
        done = subprocess.run([HITL, "ingest", str(path), "--no-process"], env=env,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"accepted {accepted}, duplicates 0" in done.stdout
    again = subprocess.run([HITL, "ingest", str(jsonl), "--no-process"], env=env,
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "accepted 0, duplicates 3" in again.stdout


@pytest.mark.slow
def test_ingest_rejects_a_bad_file_whole(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    rows = [json.dumps(e) for e in hand_raise()]
    rows.insert(1, json.dumps({"event_id": "x", "type": "nope", "occurred_at": "soon",
                               "lead": {"email": "a@b.io"}}))
    rows.append("{not json")
    path.write_text("\n".join(rows))
    done = subprocess.run([HITL, "ingest", str(path)], env=clean_env(tmp_path),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    assert "line 2: type" in done.stderr and "line 2: occurred_at" in done.stderr
    assert "line 5: not JSON" in done.stderr and "nothing was ingested" in done.stderr
    assert not (tmp_path / "hitl.db").exists()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"database_url": "mysql://x"}, "HITL_DATABASE_URL"),
    ({"smtp_url": "http://mail"}, "HITL_SMTP_URL"),
    ({"policy_file": Path("/nope/policy.toml")}, "file not found"),
    ({"slack_bot_token": "xoxb", "slack_signing_secret": None}, "SLACK_SIGNING_SECRET"),
    ({"embeddings": "openai", "openai_api_key": None, "openai_base_url": None},
     "HITL_EMBEDDINGS=openai needs"),
    ({"model_timeout_s": 0}, "model_timeout"),
])
def test_configuration_mistakes_are_named(overrides, message) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as info:
        load_settings(**{"slack_bot_token": None, "slack_signing_secret": None,
                         "slack_app_token": None, **overrides})
    assert message in str(info.value)


def test_offline_by_default_and_endpoint_switches_embeddings() -> None:
    offline = load_settings(openai_api_key=None, openai_base_url=None, embeddings=None)
    assert not offline.model_endpoint_configured and offline.embeddings_mode == "local"
    online = load_settings(openai_base_url="http://llm.test/v1", embeddings=None)
    assert online.embeddings_mode == "openai"
    assert load_settings(database_url="postgresql://u@h/db").database_url.startswith(
        "postgresql+psycopg://")


def test_policy_and_roster_errors_name_the_file_and_field(tmp_path) -> None:
    from agent.policy import PolicyFileError, load_policy, load_roster

    text = (ROOT / "config/defaults/policy.toml").read_text()
    broken = tmp_path / "policy.toml"
    broken.write_text(text.replace("A = 65", "A = 10"))
    with pytest.raises(PolicyFileError, match="band A threshold"):
        load_policy(broken)
    broken.write_text(text.replace("[dispositions.duplicate]", "[dispositions.dupe]"))
    with pytest.raises(PolicyFileError, match="dispositions"):
        load_policy(broken)
    broken.write_text("version = ")
    with pytest.raises(PolicyFileError, match="not valid TOML"):
        load_policy(broken)
    roster = tmp_path / "team.toml"
    roster.write_text('[[members]]\nemail = "a@b.io"\nname = "A"\nrole = "rep"\n')
    with pytest.raises(PolicyFileError, match="at least one manager"):
        load_roster(roster)


@pytest.mark.slow
def test_help_lists_every_command() -> None:
    done = subprocess.run([HITL, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("serve", "demo", "ingest", "db"):
        assert command in done.stdout
