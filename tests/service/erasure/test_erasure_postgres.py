"""Erasure on PostgreSQL: the same person, the same product paths (Slack included), and no row
of any table mentions them afterwards; the checkpoint threads are gone from PostgresSaver.
Skipped without PostgreSQL; mandatory in CI (.ci/run sets HITL_REQUIRE_POSTGRES)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fake_slack import FakeSlack, SlackSide
from tests.service.erasure.erasure_helpers import (
    NEEDLES,
    PERSON,
    SUPPORT_TEXT,
    _lead_story,
    _rows_with,
    _slack_texts_with,
    _support_story,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(name="database_url")
def postgres_database_url(postgres_url: str) -> str:
    return postgres_url


def test_erasure_on_postgresql_leaves_no_row_and_no_checkpoint(
        app: Any, worker: Any, app_rt: Any, fake_slack: FakeSlack, slack: SlackSide,
        clock: Any) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    rt = app_rt
    assert isinstance(rt.checkpointer, PostgresSaver)
    lead_id, _, handoffs = _lead_story(app, worker, rt, fake_slack, slack, clock)
    _support_story(app, worker, rt, fake_slack, slack, clock, conversation="conv-pg",
                   customer={"email": PERSON["email"], "name": "Zephyrine Quillfeather"},
                   first=SUPPORT_TEXT)
    assert _rows_with(rt, NEEDLES)

    response = app.delete(f"/v1/leads/{lead_id}")
    assert response.status_code == 200, response.text
    assert response.json()["checkpoints"]["threads"] == 2
    worker.run_until_idle()
    assert _rows_with(rt, NEEDLES) == {}
    assert _slack_texts_with(fake_slack, NEEDLES) == {}
    for thread in [*handoffs, "support:conv-pg"]:
        assert list(rt.checkpointer.list({"configurable": {"thread_id": thread}})) == []
