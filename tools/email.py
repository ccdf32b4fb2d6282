"""Outbound email behind one small interface: real SMTP, or a recording double for tests."""

from __future__ import annotations

import email.policy
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

_POLICY = email.policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class OutboundEmail:
    to: str
    from_email: str
    from_name: str | None
    subject: str
    body: str
    message_id: str
    list_unsubscribe: str
    date: datetime

    def as_mime(self) -> EmailMessage:
        # Long machine headers (List-Unsubscribe) must not be RFC 2047-encoded by folding.
        message = EmailMessage(policy=_POLICY)
        message["From"] = formataddr((self.from_name or "", self.from_email))
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Message-ID"] = self.message_id
        message["Date"] = format_datetime(self.date)
        message["List-Unsubscribe"] = self.list_unsubscribe
        message.set_content(self.body)
        return message


class SendError(Exception):
    """Delivery failed. `transient` says whether retrying later may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class EmailSender(Protocol):
    def send(self, email: OutboundEmail) -> None:
        """Deliver one message or raise SendError."""


class SmtpEmailSender:
    """Speaks SMTP to `HITL_SMTP_URL` (smtp://, smtps://, ?starttls=1), one connection per send."""

    def __init__(self, url: str, *, timeout: float = 20.0) -> None:
        parsed = urlparse(url)
        self.host = parsed.hostname or "localhost"
        self.implicit_tls = parsed.scheme == "smtps"
        self.port = parsed.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        query = parse_qs(parsed.query)
        self.starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
        self.timeout = timeout

    def send(self, email: OutboundEmail) -> None:
        try:
            client: smtplib.SMTP
            if self.implicit_tls:
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                refused = client.send_message(email.as_mime(), email.from_email, [email.to])
                if refused:
                    raise SendError(f"recipient refused: {refused}", transient=False)
        except smtplib.SMTPResponseException as exc:
            # 4xx is "try again later" in SMTP; 5xx is a final answer.
            raise SendError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", transient=400 <= exc.smtp_code < 500
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendError(f"recipient refused: {exc.recipients}", transient=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"SMTP connection failed: {type(exc).__name__}",
                            transient=True) from exc


@dataclass
class RecordingEmailSender:
    """Test double: records every message; can be told to fail the next sends."""

    sent: list[OutboundEmail] = field(default_factory=list)
    fail_next: list[SendError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, email: OutboundEmail) -> None:
        with self._lock:
            if self.fail_next:
                raise self.fail_next.pop(0)
            self.sent.append(email)
