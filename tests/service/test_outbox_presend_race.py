"""On PostgreSQL the pre-send check and a worker's claim of the same send take turns on the row:
a check that read the row before a claim committed must not then mark a message being sent
`blocked` (the sender may already have handed it over: the record would lie)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text, update

from api.app import create_app
from hitl.wiring import build_runtime
from service import outbox
from service.worker import Worker
from store.tables import Lead, OutboxMessage
from tests.conftest import TOKEN, make_settings
from tests.flow import decide, pending_card
from tools.email import RecordingEmailSender

pytestmark = pytest.mark.postgres


@pytest.fixture
def replica(tmp_path, postgres_url, clock, content_library) -> Iterator[tuple[Any, Any, Any]]:
    settings = make_settings(tmp_path, database_url=postgres_url)
    rt = build_runtime(settings, clock=clock, library_override=content_library)
    rt.db.upgrade()
    rt.sender_override = RecordingEmailSender()
    worker = Worker(rt, threads=2)
    client = TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"})
    yield rt, worker, client
    client.close()
    worker.stop()
    rt.close()


def _waiting_on_a_lock(engine: Any) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar())


def test_a_claim_committed_during_the_check_wins(replica: tuple[Any, Any, Any]) -> None:
    rt, worker, client = replica
    card = pending_card(client, worker)
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")  # not run yet
    with rt.db.session() as s:
        outbox_id = s.scalars(select(OutboxMessage.id)).one()
        s.execute(update(Lead).values(unsubscribed_at=rt.clock.now()))  # the check would block
    claimer = create_engine(rt.settings.database_url)
    seen: list[list[str]] = []
    try:
        with claimer.begin() as claim:  # another worker's claim, not yet committed
            claim.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id)
                          .values(status="sending", attempts=OutboxMessage.attempts + 1))
            check = threading.Thread(target=lambda: seen.append(
                outbox.presend_blocks(rt, outbox_id)))
            check.start()
            for _ in range(500):  # until the check waits on the claim's row lock
                if _waiting_on_a_lock(claimer) or not check.is_alive():
                    break
                time.sleep(0.01)
        check.join(30)
        assert seen == [[]]  # being sent: the sender's to decide, not the check's
        with rt.db.read() as s:
            assert s.get(OutboxMessage, outbox_id).status == "sending"
    finally:
        claimer.dispose()
