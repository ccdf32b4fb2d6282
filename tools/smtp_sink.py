"""A real SMTP server on loopback that keeps what it receives (demo and tests).

It speaks the protocol with aiosmtpd, so a send through it is a real SMTP conversation.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: Message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        payload = self.message.get_payload(decode=True)
        text = payload.decode() if isinstance(payload, bytes) else str(payload)
        return text.replace("\r\n", "\n")  # SMTP puts CRLF on the wire


@dataclass
class _Handler:
    received: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Codes to answer DATA with before accepting (e.g. ["451 try later"]) to drill retries.
    refuse_next: list[str] = field(default_factory=list)
    # ... and to answer RCPT TO with (e.g. ["550 5.1.1 <x@y.z>: user unknown"]).
    refuse_recipients_next: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        with self.lock:
            if self.refuse_recipients_next:
                return self.refuse_recipients_next.pop(0).replace("{address}", address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            if self.refuse_next:
                return self.refuse_next.pop(0)
            self.received.append(
                ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos),
                             message_from_bytes(envelope.content))
            )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """`with SmtpSink() as sink: ... sink.url ... sink.messages`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._handler = _Handler()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._handler.lock:
            return list(self._handler.received)

    def refuse_next(self, *replies: str) -> None:
        with self._handler.lock:
            self._handler.refuse_next.extend(replies)

    def refuse_recipients_next(self, *replies: str) -> None:
        """Answer the next RCPT TO commands with these replies; `{address}` in one is the
        recipient, as servers quote it ("550 5.1.1 <{address}>: user unknown")."""
        with self._handler.lock:
            self._handler.refuse_recipients_next.extend(replies)

    def recover(self) -> None:
        """Accept every message from now on (the refusals still queued are dropped)."""
        with self._handler.lock:
            self._handler.refuse_next.clear()
            self._handler.refuse_recipients_next.clear()

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
