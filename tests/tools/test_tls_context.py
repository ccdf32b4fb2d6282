"""Connections the app opens itself share one TLS context (tools/tls.py): building one loads the
CA bundle (~20 ms of CPU), and urllib (slack_sdk's sync WebClient) and smtplib build one per
connection unless given one. Each test opens connections to a closed local port over TLS and
counts the contexts built while doing so."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from tools.email import OutboundEmail, SendError, SmtpEmailSender
from tools.tls import client_tls_context


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def contexts_built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts TLS contexts built from now on (the process's own already exists)."""
    client_tls_context()
    built: list[int] = []
    create, https = ssl.create_default_context, ssl._create_default_https_context

    def counted(real: Any) -> Any:
        def build(*args: Any, **kwargs: Any) -> ssl.SSLContext:
            built.append(1)
            return real(*args, **kwargs)
        return build

    monkeypatch.setattr(ssl, "create_default_context", counted(create))
    monkeypatch.setattr(ssl, "_create_default_https_context", counted(https))
    return built


def test_slack_calls_reuse_the_process_tls_context(contexts_built: list[int]) -> None:
    from slack_sdk.errors import SlackClientError

    from slack_app import web

    settings = SimpleNamespace(slack_api_url=f"https://127.0.0.1:{_closed_port()}/api/",
                               slack_bot_token="xoxb-test", outbound_connections=8)
    client = web.web_client(SimpleNamespace(settings=settings))  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises((OSError, SlackClientError)):  # nothing listens there
            client.auth_test()
    assert contexts_built == []  # without a context urllib built one per attempt
    assert client.ssl is client_tls_context()
    assert client._http._transport._pool._ssl_context is client_tls_context()  # what it sends on


def test_smtps_sends_reuse_the_process_tls_context(contexts_built: list[int]) -> None:
    sender = SmtpEmailSender(f"smtps://127.0.0.1:{_closed_port()}", timeout=2)
    email = OutboundEmail(to="ada@acme.example", from_email="rep@vendor.example", from_name="Rep",
                          subject="Hello", body="Hi Ada", message_id="<m1@vendor.example>",
                          list_unsubscribe="<mailto:unsubscribe@vendor.example>",
                          date=datetime(2026, 1, 5, tzinfo=UTC))
    for _ in range(2):
        with pytest.raises(SendError):  # nothing listens there: a transient failure
            sender.send(email)
    assert contexts_built == []  # smtplib was handed the process's context each time
