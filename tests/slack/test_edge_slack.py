"""Slack's deliveries at the HTTP edge: headers judged before the body is read, the signature
checked on the raw bytes before Bolt parses anything; every refusal is a 401 (never a 500) and
changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from bench.slack_side import block_actions
from service.approvals import get_approval
from tests.asgi_probe import call
from tests.fake_slack import card_message
from tests.flow import pending_card

SECRET = "secret"  # the signing secret of tests.fake_slack's settings
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _sign(body: bytes, timestamp: str) -> str:
    digest = hmac.new(SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body,
                      hashlib.sha256).hexdigest()
    return f"v0={digest}"


def _web_api_calls(fake_slack: Any) -> list[Any]:
    """What the app asked of Slack, beyond who the bot is (asked once at startup)."""
    return [c for c in fake_slack.calls() if c.method != "auth.test"]


def _now() -> str:
    return str(int(time.time()))


MALFORMED_TIMESTAMPS = ["abc", "", "1e999", "9" * 5000, "-1", "1.5", "0x10", " 1700000000",
                        "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
                        "17000000000000000000000000"]


@pytest.mark.parametrize("timestamp", MALFORMED_TIMESTAMPS)
def test_malformed_timestamps_are_401_before_the_body_is_read(client: Any, fake_slack: Any,
                                                             timestamp: str) -> None:
    body = urlencode({"payload": json.dumps({"type": "block_actions"})}).encode()
    # Signed over the very timestamp sent: only its shape is wrong.
    answer = call(client.app, "POST", "/slack/events", chunks=[body],
                  headers={**FORM, "Content-Length": str(len(body)),
                           "X-Slack-Request-Timestamp": timestamp,
                           "X-Slack-Signature": _sign(body, timestamp)})
    assert (answer.status, answer.chunks_read) == (401, 0)
    assert answer.json() == {"detail": "missing or malformed X-Slack-Request-Timestamp"}
    assert _web_api_calls(fake_slack) == []


def test_a_malformed_timestamp_through_the_whole_stack_is_401(client: Any, slack: Any,
                                                             fake_slack: Any) -> None:
    for timestamp in MALFORMED_TIMESTAMPS[:4]:
        answer = slack.post("payload=%7B%7D", FORM["Content-Type"],
                            headers={"X-Slack-Request-Timestamp": timestamp})
        assert answer.status_code == 401, timestamp
    assert _web_api_calls(fake_slack) == []


@pytest.mark.parametrize("offset", [-301, 301, -10**9])
def test_timestamps_outside_the_window_are_401_unread(client: Any, offset: int) -> None:
    timestamp = str(max(0, int(time.time()) + offset))
    answer = call(client.app, "POST", "/slack/events", chunks=[b"x"] * 3,
                  headers={**FORM, "Content-Length": str(50 << 20),
                           "X-Slack-Request-Timestamp": timestamp,
                           "X-Slack-Signature": "v0=" + "0" * 64})
    assert (answer.status, answer.chunks_read) == (401, 0)
    assert "5-minute window" in answer.json()["detail"]


@pytest.mark.parametrize("signature", [None, "", "v0=", "v1=" + "a" * 64, "v0=" + "A" * 64,
                                       "v0=" + "a" * 63, "v0=" + "a" * 65, "v0=" + "g" * 64,
                                       "v0=" + "a" * 100_000])
def test_malformed_signatures_are_401_unread(client: Any, signature: str | None) -> None:
    headers = {**FORM, "Content-Length": str(50 << 20), "X-Slack-Request-Timestamp": _now()}
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    answer = call(client.app, "POST", "/slack/events", chunks=[b"x"] * 3, headers=headers)
    assert (answer.status, answer.chunks_read) == (401, 0)
    assert answer.json() == {"detail": "missing or malformed X-Slack-Signature"}


def test_oversized_slack_bodies_are_413(client: Any, fake_slack: Any) -> None:
    timestamp = _now()
    declared = call(client.app, "POST", "/slack/events", chunks=[b"x"],
                    headers={**FORM, "Content-Length": str((1 << 20) + 1),
                             "X-Slack-Request-Timestamp": timestamp,
                             "X-Slack-Signature": "v0=" + "0" * 64})
    assert (declared.status, declared.chunks_read) == (413, 0)
    assert "HITL_SLACK_MAX_BODY_BYTES" in declared.json()["detail"]
    body = b"payload=" + b"x" * (3 << 20)
    chunked = call(client.app, "POST", "/slack/events",
                   chunks=[body[i:i + 65536] for i in range(0, len(body), 65536)],
                   headers={**FORM, "X-Slack-Request-Timestamp": timestamp,
                            "X-Slack-Signature": _sign(body, timestamp)})
    assert chunked.status == 413 and chunked.chunks_read <= 17
    assert _web_api_calls(fake_slack) == []


def test_bad_signatures_on_the_bytes_are_401_and_never_reach_bolt(client: Any, worker: Any,
                                                                 rt: Any, fake_slack: Any,
                                                                 slack: Any) -> None:
    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    before = len(fake_slack.calls())
    timestamp = _now()
    # The assignee's own Approve click, as Slack would send it: only the signature is wrong.
    body = urlencode({"payload": json.dumps(
        block_actions(message, "Approve", "U0REP0001", 1))}).encode()
    variants = {
        "other body": _sign(body + b"&x=1", timestamp),
        "other timestamp": _sign(body, str(int(timestamp) - 1)),
        "other secret": "v0=" + hmac.new(b"not-the-secret", b"v0:" + timestamp.encode() + b":"
                                         + body, hashlib.sha256).hexdigest(),
    }
    for name, signature in variants.items():
        answer = call(client.app, "POST", "/slack/events", chunks=[body],
                      headers={**FORM, "Content-Length": str(len(body)),
                               "X-Slack-Request-Timestamp": timestamp,
                               "X-Slack-Signature": signature})
        assert answer.status == 401, name
        assert answer.json() == {"detail": "invalid Slack signature"}
    # Bytes that are not UTF-8, correctly signed: not from Slack, and not a 500.
    raw = b"payload=\xff\xfe\x80"
    answer = call(client.app, "POST", "/slack/events", chunks=[raw],
                  headers={**FORM, "Content-Length": str(len(raw)),
                           "X-Slack-Request-Timestamp": timestamp,
                           "X-Slack-Signature": _sign(raw, timestamp)})
    assert answer.status == 401
    worker.run_until_idle()
    assert len(fake_slack.calls()) == before
    assert get_approval(rt, card["approval_id"])["status"] == "pending"


def test_a_correctly_signed_delivery_still_reaches_bolt(client: Any, slack: Any) -> None:
    body = json.dumps({"token": "legacy", "challenge": "c-edge", "type": "url_verification"})
    answer = slack.post(body, "application/json")
    assert answer.status_code == 200 and answer.json() == {"challenge": "c-edge"}
