"""Crashes and restarts: a new process resumes the graph; a kill -9 mid-SMTP sends once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.clock import FrozenClock
from store.tables import OutboxMessage
from tests.flow import decide, pending_card

ROOT = Path(__file__).resolve().parents[2]


def child_env(rt: Any, smtp_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "SLACK_", "HITL_"))}
    env.update(HITL_DATABASE_URL=rt.settings.database_url, HITL_SMTP_URL=smtp_url,
               HITL_CHROMA_PATH=str(rt.settings.chroma_path), HITL_EMBEDDINGS="local",
               PYTHONPATH=str(ROOT))
    return env


@pytest.mark.slow
def test_a_new_process_resumes_the_paused_graph(client, worker, smtp_sink, rt) -> None:
    card = pending_card(client, worker)
    assert decide(client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200
    # This process never resumes the graph: a brand-new process with a newly compiled graph
    # picks the decision up from the store and the checkpoint from the same SQLite file.
    done = subprocess.run([sys.executable, "-m", "tests.child_worker"], cwd=ROOT,
                          env=child_env(rt, smtp_sink.url), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ["ada@acme.io"]


class StallingHandler:
    """An SMTP server that takes the message and never answers the final dot."""

    def __init__(self) -> None:
        self.entered = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.entered.set()
        while True:
            await asyncio.sleep(3600)


@pytest.mark.slow
def test_kill_9_after_the_handover_never_resends_and_a_retry_sends_once(
        client, worker, smtp_sink, rt, clock) -> None:
    """Killed while the server holds the message without answering: the server may deliver
    it (RFC 5321 6.1), so the restart parks it for a person instead of sending it again."""
    from aiosmtpd.controller import Controller

    from hitl.wiring import build_runtime
    from service import outbox
    from service.lifecycle import OUTCOME_UNKNOWN
    from service.worker import Worker
    from tools.smtp_sink import free_port

    card = pending_card(client, worker)
    assert decide(client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200

    stall = StallingHandler()
    port = free_port()
    controller = Controller(stall, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        child = subprocess.Popen([sys.executable, "-m", "tests.child_worker"], cwd=ROOT,
                                 env=child_env(rt, f"smtp://127.0.0.1:{port}"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert stall.entered.wait(60), "the child never reached DATA"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        controller.stop()
    with rt.db.session() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.status == "sending" and message.handed_over_at is not None

    # Restart (a fresh runtime) once the send lease has expired. (The child ran on the system
    # clock, so its leases are in real time.)
    later = FrozenClock(datetime.now(UTC) + timedelta(minutes=20))
    restarted = build_runtime(rt.settings, clock=later, library_override=rt.content_library)

    def to_the_lead() -> list[Any]:  # the holder and a manager are told on the same server
        return [m for m in smtp_sink.messages if m.rcpt_tos == [card["draft"]["to"]]]

    for _ in range(2):  # and however often the work is replayed
        again = Worker(restarted, threads=2)
        again.run_until_idle()
        again.stop()
        assert to_the_lead() == []
        assert len(smtp_sink.messages) == 2  # told once, to check before retrying
        with restarted.db.session() as s:
            message = s.scalars(select(OutboxMessage)).one()
            assert message.status == "failed" and message.attempts == 1
            assert message.status_detail.startswith(OUTCOME_UNKNOWN)
            assert message.message_id in message.status_detail
        later.advance(hours=100)  # past every retry budget: still never resent by itself

    # A person checked that it did not arrive and retries it: it goes out once.
    outbox.retry(restarted, message.id, actor="U0REP0001")
    again = Worker(restarted, threads=2)
    again.run_until_idle()
    again.stop()
    assert len(to_the_lead()) == 1
    with restarted.db.session() as s:
        assert s.scalars(select(OutboxMessage)).one().status == "sent"
    restarted.close()


def test_smtp_refusal_is_retried_then_delivered(client, worker, smtp_sink, rt, clock) -> None:
    card = pending_card(client, worker)
    smtp_sink.refuse_next("451 4.3.0 try again later")
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    assert smtp_sink.messages == []
    with rt.db.session() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.status == "retrying" and "451" in (message.last_error or "")
    clock.advance(minutes=5)  # past the job's backoff
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1
