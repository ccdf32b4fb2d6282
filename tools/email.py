"""Outbound email behind one small interface: real SMTP, or a recording double for tests.

The rules for text that becomes a header or a body are `agent.email_rules` (shared with the
decision API and the drafters, so all of them refuse or tidy exactly the same characters).
"""

from __future__ import annotations

import email.policy
import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

from agent.email_rules import (  # noqa: F401  (re-exported: the sender's own rules)
    MAX_SUBJECT_CHARS,
    clean_body,
    clean_header_text,
    header_text_problem,
)
from tools.tls import client_tls_context

_POLICY = email.policy.SMTP.clone(max_line_length=998)


def outbound_problem(email: OutboundEmail) -> str | None:
    """Why `email` must not be handed to SMTP: the recipient is not exactly one canonical
    address (what the card showed), or a header or the body carries forbidden characters."""
    from agent.email_rules import AddressError, lead_address

    try:
        canonical = lead_address(email.to, "recipient")
    except AddressError as exc:
        return str(exc)
    if canonical != email.to:
        return f"recipient {email.to!r} is not in canonical form ({canonical!r})"
    problem = header_text_problem(email.subject)
    if problem:
        return f"subject {problem}"
    try:
        clean_body(email.body)
    except ValueError as exc:
        return f"body {exc}"
    return None


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
    """Delivery failed. `transient` says whether retrying later may succeed; `outcome_unknown`
    that the failure came after the message was handed over (the server's 354) and before the
    server's answer to it, so the server may hold it and deliver it: such a send is never
    retried automatically (a resend could deliver it twice)."""

    def __init__(self, message: str, *, transient: bool, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.transient = transient and not outcome_unknown
        self.outcome_unknown = outcome_unknown


class EmailSender(Protocol):
    def send(self, email: OutboundEmail, *,
             handing_over: Callable[[], None] | None = None) -> None:
        """Deliver one message or raise SendError. `handing_over` runs once, just before the
        message itself is handed to the server (at the server's 354, the recipient accepted):
        from then on a failure without the server's answer leaves the outcome unknown. If it raises,
        nothing is handed over."""


# RFC 5321 4.5.3.2.6: after the final dot the server delivers before it answers, and the client
# waits 10 minutes for that answer; "a spurious timeout at this point ... would typically
# result in delivery of multiple copies". The other steps keep the sender's shorter timeout.
DATA_TIMEOUT_S = 600.0


class _Smtp(smtplib.SMTP):
    """smtplib's client, marking the handover. When the server's 354 invites the message,
    `handing_over` runs (before a byte of it is sent) and `handed_over` is set: from then on
    the server may hold it. `answer` is the server's well-formed answer to the message, once
    it came (None: no answer, or a garbled one: nobody knows whether it was taken)."""

    handing_over: Callable[[], None] | None = None
    handed_over = False
    answer: int | None = None
    _in_data = False

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = False
            if self.sock is not None:
                self.sock.settimeout(self.timeout)  # QUIT and the rest: the short timeout

    def getreply(self) -> tuple[int, bytes]:
        code, text = super().getreply()
        if not self._in_data:
            return code, text
        if not self.handed_over:
            if code == 354:
                if self.handing_over is not None:
                    self.handing_over()
                self.handed_over = True
        elif 200 <= code < 600:  # (-1: a reply smtplib could not read)
            self.answer = code
        return code, text

    def send(self, s: bytes | str) -> None:
        super().send(s)
        if self.handed_over and self._in_data and self.sock is not None:
            self.sock.settimeout(DATA_TIMEOUT_S)  # the message is out: await its answer


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    """`_Smtp` over implicit TLS (smtps://)."""


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

    def send(self, email: OutboundEmail, *,
             handing_over: Callable[[], None] | None = None) -> None:
        # Checked before connecting: a message the rules refuse is a final answer, not a retry.
        problem = outbound_problem(email)
        if problem:
            raise SendError(f"refused before sending: {problem}", transient=False)
        try:
            message = email.as_mime()
        except ValueError as exc:  # the email package's own header checks
            raise SendError(f"refused before sending: {exc}", transient=False) from exc
        client: _Smtp | None = None
        try:
            if self.implicit_tls:
                client = _SmtpSsl(self.host, self.port, timeout=self.timeout,
                                  context=client_tls_context())
            else:
                client = _Smtp(self.host, self.port, timeout=self.timeout)
            client.handing_over = handing_over
            try:
                if self.starttls:
                    client.starttls(context=client_tls_context())
                if self.username:
                    client.login(self.username, self.password or "")
                # The envelope names exactly the one checked address: the To header is never
                # re-parsed into recipients.
                refused = client.send_message(message, from_addr=email.from_email,
                                              to_addrs=[email.to])
            except BaseException:
                client.close()
                raise
            # Accepted (250): the goodbye is said without waiting for its answer, which changes
            # nothing. (smtplib's `with` raised on an odd answer to QUIT, which made a
            # delivered message look failed, and waiting widened the window for a crash.)
            _say_goodbye(client)
            if refused:
                raise SendError(f"recipient refused: {refused}", transient=False)
        except smtplib.SMTPResponseException as exc:
            if client is not None and client.handed_over and client.answer is None:
                raise _unknown(exc) from exc  # smtplib's own "500 Line too long" etc.
            # An answer, so a known outcome, even after DATA: not taken. 4xx is "try again
            # later" in SMTP; 5xx is a final answer.
            words = _text(exc.smtp_error)
            raise SendError(
                f"SMTP {exc.smtp_code} {words}", transient=400 <= exc.smtp_code < 500
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            # Per recipient (code, words); 4xx (greylisting, mailbox busy) is worth retrying.
            codes = [code for code, _ in exc.recipients.values()]
            # The server's codes and words, not its dict keyed by the address: a send's detail
            # is shown to managers and reports, and the address is the lead's.
            words = "; ".join(f"{code} {_text(reply)}" for code, reply in exc.recipients.values())
            raise SendError(f"recipient refused: {words}",
                            transient=bool(codes) and all(400 <= c < 500 for c in codes)
                            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            if client is not None and client.handed_over:
                raise _unknown(exc) from exc
            raise SendError(f"SMTP connection failed: {type(exc).__name__}",
                            transient=True) from exc


def _text(reply: bytes | str) -> str:
    """An SMTP reply's words as text (smtplib keeps them as the bytes the server sent)."""
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _unknown(exc: Exception) -> SendError:
    return SendError(f"no answer from the mail server after the message was handed over "
                     f"({type(exc).__name__}): it may have been delivered",
                     transient=False, outcome_unknown=True)


def _say_goodbye(client: smtplib.SMTP) -> None:
    try:
        client.putcmd("quit")
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


@dataclass
class RecordingEmailSender:
    """Test double: records every message; can be told to fail the next sends."""

    sent: list[OutboundEmail] = field(default_factory=list)
    fail_next: list[SendError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, email: OutboundEmail, *,
             handing_over: Callable[[], None] | None = None) -> None:
        problem = outbound_problem(email)
        if problem:  # the same refusal as the SMTP sender, so tests see what production does
            raise SendError(f"refused before sending: {problem}", transient=False)
        with self._lock:
            failure = self.fail_next.pop(0) if self.fail_next else None
        # A failure of unknown outcome comes after the handover, like the SMTP sender's.
        if failure is not None and not failure.outcome_unknown:
            raise failure
        if handing_over is not None:
            handing_over()
        if failure is not None:
            raise failure
        with self._lock:
            self.sent.append(email)
