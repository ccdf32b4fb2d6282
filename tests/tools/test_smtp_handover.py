"""The SMTP sender knows when it handed a message over, and what a failure after that means.

Before the DATA command nothing can have been delivered, so a failure there is retried; after
it, a failure without the server's answer may hide a delivery (RFC 5321 6.1), so it is
reported as an unknown outcome, never as something to retry. A server's answer is always a
known outcome, and an odd answer to the goodbye after a 250 changes nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.smtp_script import ScriptedSmtp
from tools.email import (
    DATA_TIMEOUT_S,
    OutboundEmail,
    RecordingEmailSender,
    SendError,
    SmtpEmailSender,
    _Smtp,
)


@pytest.fixture
def scripted() -> Iterator[ScriptedSmtp]:
    server = ScriptedSmtp()
    yield server
    server.close()


def _email() -> OutboundEmail:
    return OutboundEmail(
        to="ada@acme.io", from_email="riley@example.com", from_name="Riley", subject="Hello",
        body="Hi Ada,\n\nBest,\nRiley", message_id="<h-1@example.com>",
        list_unsubscribe="<mailto:unsubscribe@example.com>",
        date=datetime(2026, 11, 18, tzinfo=UTC))


def _send(url: str, **kwargs: Any) -> tuple[list[str], SendError | None]:
    """Send once; returns what happened around the handover and the error, if any."""
    seen: list[str] = []
    try:
        SmtpEmailSender(url, timeout=5).send(_email(), handing_over=lambda: seen.append("over"),
                                             **kwargs)
    except SendError as exc:
        return seen, exc
    return seen, None


def test_an_accepted_message_is_handed_over_once(scripted: ScriptedSmtp) -> None:
    seen, error = _send(scripted.url)
    assert error is None and seen == ["over"] and len(scripted.delivered) == 1


@pytest.mark.parametrize("behaviour", ["drop", "deliver_and_drop", "garbled"])
def test_no_answer_after_the_handover_is_an_unknown_outcome(scripted: ScriptedSmtp,
                                                            behaviour: str) -> None:
    scripted.script.append(behaviour)
    seen, error = _send(scripted.url)
    assert seen == ["over"]
    assert error is not None and error.outcome_unknown and not error.transient
    assert "may have been delivered" in str(error)


@pytest.mark.parametrize(("behaviour", "transient"), [("temp", True), ("perm", False)])
def test_an_answer_to_the_message_is_a_known_outcome(scripted: ScriptedSmtp, behaviour: str,
                                                     transient: bool) -> None:
    scripted.script.append(behaviour)
    seen, error = _send(scripted.url)
    assert seen == ["over"]
    assert error is not None and not error.outcome_unknown and error.transient is transient


def test_no_invitation_to_send_the_message_is_no_handover(scripted: ScriptedSmtp) -> None:
    """The server hung up instead of its 354: the message was never sent, so retry."""
    scripted.script.append("drop_at_data")
    seen, error = _send(scripted.url)
    assert seen == [] and error is not None and error.transient and not error.outcome_unknown


def test_the_answer_to_the_message_gets_rfc_5321s_ten_minutes(scripted: ScriptedSmtp) -> None:
    """Waiting for the answer to the final dot the client allows DATA_TIMEOUT_S; every other
    step (the 354, QUIT) the sender's own timeout."""
    class Probe(_Smtp):
        waits: list[tuple[bool, float | None]] = []

        def getreply(self) -> tuple[int, bytes]:
            if self.sock is not None:
                self.waits.append((self.handed_over, self.sock.gettimeout()))
            return super().getreply()

    client = Probe("127.0.0.1", int(scripted.url.rsplit(":", 1)[1]), timeout=5)
    client.ehlo()
    client.mail("riley@example.com")
    client.rcpt("ada@acme.io")
    del Probe.waits[:]
    assert client.data(b"Hi\r\n")[0] == 250 and client.answer == 250
    assert Probe.waits == [(False, 5), (True, DATA_TIMEOUT_S)]  # the 354, then the answer
    assert client.sock.gettimeout() == 5
    client.close()


def test_a_failure_before_the_handover_is_retried(scripted: ScriptedSmtp) -> None:
    with socket.socket() as s:  # a port with nothing listening: the server is down
        s.bind(("127.0.0.1", 0))
        down = f"smtp://127.0.0.1:{s.getsockname()[1]}"
    seen, error = _send(down)
    assert seen == [] and error is not None and error.transient and not error.outcome_unknown


def test_a_refused_handover_sends_nothing(scripted: ScriptedSmtp) -> None:
    """If recording the handover fails, the message is never handed over."""
    def refuse() -> None:
        raise RuntimeError("the store is unreachable")

    with pytest.raises(RuntimeError):
        SmtpEmailSender(scripted.url, timeout=5).send(_email(), handing_over=refuse)
    assert scripted.delivered == []


def test_an_odd_goodbye_after_the_250_is_a_delivery(scripted: ScriptedSmtp) -> None:
    scripted.script.append("bad_quit")
    seen, error = _send(scripted.url)
    assert error is None and seen == ["over"] and len(scripted.delivered) == 1


def test_the_recording_sender_hands_over_like_the_smtp_one() -> None:
    seen: list[str] = []
    sender = RecordingEmailSender(fail_next=[
        SendError("refused", transient=True),
        SendError("no answer", transient=False, outcome_unknown=True)])
    for _ in range(3):
        try:
            sender.send(_email(), handing_over=lambda: seen.append("over"))
        except SendError as exc:
            seen.append("unknown" if exc.outcome_unknown else "refused")
    assert seen == ["refused", "over", "unknown", "over"] and len(sender.sent) == 1
