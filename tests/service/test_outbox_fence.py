"""A send attempt writes only while the row is still its own.

Its claim numbers the row (`attempts`); the handover, the success and the failure are written
only under that number and status `sending`. The faults are made inside the sender, between
the claim and the handover, the way a slow attempt, an erasure or a second worker would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from service import outbox
from service.jobs import RetryLater
from store.tables import Lead, OutboxMessage
from tests.flow import decide, pending_card
from tools.email import OutboundEmail, RecordingEmailSender


class FaultBeforeHandover(RecordingEmailSender):
    """Runs `fault` after the claim, before the handover; then sends as usual."""

    def __init__(self, fault: Callable[[], None]) -> None:
        super().__init__()
        self.fault = fault

    def send(self, email: OutboundEmail, *,
             handing_over: Callable[[], None] | None = None) -> None:
        self.fault()
        super().send(email, handing_over=handing_over)


def _approved(client: Any, worker: Any, rt: Any, fault: Callable[[], None]
              ) -> tuple[FaultBeforeHandover, str]:
    sender = FaultBeforeHandover(fault)
    rt.sender_override = sender
    card = pending_card(client, worker)
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    with rt.db.session() as s:
        return sender, s.scalars(select(OutboxMessage.id)).one()


def test_a_message_erased_before_the_handover_is_not_handed_over(client, worker, rt) -> None:
    def erase() -> None:
        with rt.db.session() as s:
            s.execute(delete(OutboxMessage))

    sender, _ = _approved(client, worker, rt, erase)
    worker.run_until_idle()
    assert sender.sent == []


def test_an_attempt_whose_row_was_claimed_again_hands_nothing_over(client, worker, rt,
                                                                   clock) -> None:
    """Another worker's claim (after this one's lease ran out) renumbered the row: this
    attempt stops before the handover and leaves the row to the other one."""
    def claimed_again() -> None:
        with rt.db.session() as s:
            s.execute(update(OutboxMessage).values(attempts=OutboxMessage.attempts + 1))

    sender, outbox_id = _approved(client, worker, rt, claimed_again)
    with pytest.raises(RetryLater):  # the job tries again later; the other attempt decides
        outbox.deliver(rt, outbox_id)
    assert sender.sent == []
    with rt.db.session() as s:
        message = s.get(OutboxMessage, outbox_id)
        assert message.status == "sending" and message.handed_over_at is None


def test_the_presend_check_leaves_a_row_being_sent_to_its_sender(client, worker, rt) -> None:
    """A rerun of the graph meets the row `sending` (another run is talking to the server,
    perhaps handed over): an unsubscribe since then is not the presend check's to apply."""
    sender, outbox_id = _approved(client, worker, rt, lambda: None)
    with rt.db.session() as s:
        s.execute(update(OutboxMessage).values(status="sending", attempts=1))
        s.execute(update(Lead).values(unsubscribed_at=rt.clock.now()))
    assert outbox.presend_blocks(rt, outbox_id) == []
    with rt.db.session() as s:
        assert s.get(OutboxMessage, outbox_id).status == "sending"


def test_the_handover_holds_the_row_for_the_wait_for_the_answer(client, worker, rt,
                                                                clock) -> None:
    """From the handover the lease covers RFC 5321's ten-minute wait for the answer, longer
    than a claim's own (which only has to cover the steps before it)."""
    held: list[Any] = []

    class Inspecting(RecordingEmailSender):
        def send(self, email: OutboundEmail, *,
                 handing_over: Callable[[], None] | None = None) -> None:
            def over() -> None:
                with rt.db.read() as s:
                    held.append(s.scalars(select(OutboxMessage.locked_until)).one())
                assert handing_over is not None
                handing_over()
                with rt.db.read() as s:
                    held.append(s.scalars(select(OutboxMessage.locked_until)).one())
            super().send(email, handing_over=over)

    rt.sender_override = sender = Inspecting()
    card = pending_card(client, worker)
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    assert len(sender.sent) == 1
    now = clock.now().replace(tzinfo=None)
    claimed, handed_over = (t.replace(tzinfo=None) for t in held)
    assert claimed == now + outbox.SEND_LEASE
    assert handed_over == now + outbox.HANDED_OVER_LEASE > now + timedelta(minutes=10)


@pytest.mark.parametrize("landed", ["unsubscribed", "suppressed", "consent withdrawn"])
def test_what_lands_while_the_conversation_opens_stops_the_send(client, worker, rt,
                                                                landed: str) -> None:
    """The claim checked the guardrails; an unsubscribe (a suppression, a withdrawn consent)
    committed after it, while the SMTP conversation opened, is seen at the server's 354:
    nothing is handed over, the message is blocked and says why."""
    values = {"unsubscribed": {"unsubscribed_at": rt.clock.now()},
              "suppressed": {"suppressed_until": rt.clock.now() + timedelta(days=30),
                             "suppression_reason": "do_not_contact"},
              "consent withdrawn": {"consent": False}}[landed]

    def lands() -> None:
        with rt.db.session() as s:
            s.execute(update(Lead).values(**values))

    sender, outbox_id = _approved(client, worker, rt, lands)
    worker.run_until_idle()
    assert sender.sent == []
    with rt.db.session() as s:
        message = s.get(OutboxMessage, outbox_id)
        assert message.status == "blocked" and message.handed_over_at is None
        assert message.status_detail


def test_an_unsubscribe_during_a_slow_smtp_conversation_sends_nothing(client, worker,
                                                                      rt) -> None:
    """The same through a real SMTP conversation: the server holds the recipient while the
    lead unsubscribes, then invites the message; the sender hangs up without sending it."""
    from tests.smtp_script import ScriptedSmtp
    from tools.email import SmtpEmailSender

    server = ScriptedSmtp(script=["hold_rcpt"])
    try:
        rt.sender_override = SmtpEmailSender(server.url, timeout=10)
        card = pending_card(client, worker)
        decide(client, card["approval_id"], action="approve", actor="U0REP0001")
        running = threading.Thread(target=worker.run_until_idle)
        running.start()
        assert server.stalled.wait(30), "the send never reached RCPT"
        with rt.db.session() as s:
            s.execute(update(Lead).values(unsubscribed_at=rt.clock.now()))
        server.release.set()
        running.join(60)
        assert not running.is_alive()
        assert server.delivered == []
        with rt.db.session() as s:
            message = s.scalars(select(OutboxMessage)).one()
        assert message.status == "blocked" and "unsubscribed" in (message.status_detail or "")
    finally:
        server.release.set()
        server.close()
