"""Erasing a lead reaches the rep's assistant: the conversations whose answers quoted the lead
(checkpoints and writes), the lead's proposal threads and rows, and the answers posted in Slack
are gone or redacted; reply rows keep no trace of the lead. Checked as an auditor would: every
row of every table, the raw bytes of the SQLite files, and the fake Slack's messages as they
finally read. A conversation that never mentioned the lead is left as it was."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from config.settings import Settings
from evals.assistant_seed import SAM
from store.tables import AssistantProposal, AssistantReply, SlackMessageLog
from tests.fake_slack import BOT_ID, FakeSlack, SlackSide, all_text, wait_until
from tests.service.erasure.erasure_helpers import (
    _files_with,
    _rows_with,
    _slack_texts_with,
)
from tests.slack.assistant_fakes import DM, REP, click, dm_event

SAM_DM = "D" + SAM[1:]
NEEDLES = ("Ian Ito", "ian@initech.example", "Initech")
ABOUT_IAN, SNOOZE, ABOUT_ADA = "1800000000.000100", "1800000000.000200", "1800000000.000300"


@pytest.fixture
def settings(slack_settings: Settings) -> Settings:
    return slack_settings


def _answer_in(fake: FakeSlack, thread_ts: str, n: int = 1, channel: str = DM
               ) -> dict[str, Any]:
    """The `n`th finished answer of the assistant in one DM thread (streamed or posted)."""
    def answers() -> list[dict[str, Any]]:
        with fake._lock:
            return [dict(m) for m in fake.messages.values()
                    if m["channel"] == channel and m.get("thread_ts") == thread_ts
                    and m.get("bot_id") == BOT_ID and not m.get("streaming")
                    and any(b.get("block_id") == "asst_feedback" for b in m.get("blocks") or [])]

    deadline = time.monotonic() + 15
    while len(answers()) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    found = answers()
    assert len(found) >= n, f"no answer {n} in {thread_ts}: {fake.methods()}"
    return found[n - 1]


def _threads(rt: Any, prefix: str) -> set[str]:
    """Checkpoint threads (checkpoints, writes, blobs) whose id starts with `prefix`."""
    if rt.db.is_sqlite:
        conn = rt.checkpointer.conn
        return {row[0] for table in ("checkpoints", "writes") for row in conn.execute(
            f"SELECT DISTINCT thread_id FROM {table} WHERE thread_id LIKE ?", (prefix + "%",))}
    with rt.db.engine.connect() as connection:
        return {row[0] for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs")
                for row in connection.execute(text(
                    f"SELECT DISTINCT thread_id FROM {table} WHERE thread_id LIKE :p"),
                    {"p": prefix + "%"})}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, and PostgreSQL (PostgresSaver) where it runs (skipped otherwise; CI runs it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hitl.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_erasing_a_lead_erases_what_the_assistant_said_about_them(
        seeded: dict[str, str], slack: SlackSide, fake_slack: FakeSlack, client: Any, rt: Any,
        worker: Any, tmp_path: Path) -> None:
    _erase_and_check(seeded, slack, fake_slack, client, rt, worker,
                     tmp_path if rt.db.is_sqlite else None)


def _erase_and_check(seeded: dict[str, str], slack: SlackSide, fake_slack: FakeSlack,
                     client: Any, rt: Any, worker: Any, files: Path | None) -> None:
    def files_with() -> dict[str, list[str]]:  # the SQLite files, byte for byte
        return _files_with(files, NEEDLES) if files is not None else {}

    ian = seeded["ian"]
    # Conversation 1 quotes Ian twice (why now, then the queue); conversation 2 snoozes him
    # through an approved proposal; conversation 3 is about Ada only.
    slack.event(dm_event(slack, "Why is Initech hot?", thread_ts=ABOUT_IAN))
    assert "Ian Ito" in all_text(_answer_in(fake_slack, ABOUT_IAN)["blocks"])
    slack.event(dm_event(slack, "what's on my plate?", thread_ts=ABOUT_IAN))
    _answer_in(fake_slack, ABOUT_IAN, 2)
    slack.event(dm_event(slack, "snooze Initech until Monday", thread_ts=SNOOZE))
    proposal_message = _answer_in(fake_slack, SNOOZE)
    click(slack, proposal_message, "Approve", REP)
    wait_until(lambda: "Approved" in all_text(
        fake_slack.message(DM, proposal_message["ts"])["blocks"]))
    # Sam may not see Ian, but named him: "couldn't find", and his conversation holds the name.
    slack.event(dm_event(slack, "Why is Initech hot?", user=SAM, channel=SAM_DM,
                         thread_ts=ABOUT_IAN))
    assert "couldn't find" in _answer_in(fake_slack, ABOUT_IAN, channel=SAM_DM)["text"]
    slack.event(dm_event(slack, "Why is Acme hot?", thread_ts=ABOUT_ADA))
    ada_message = _answer_in(fake_slack, ABOUT_ADA)
    worker.run_until_idle()

    ian_threads = _threads(rt, f"assistant:{REP}:{DM}:{ABOUT_IAN}") \
        | _threads(rt, f"assistant:{REP}:{DM}:{SNOOZE}")
    assert len(ian_threads) == 3  # two conversations and the snooze proposal's thread
    assert _threads(rt, f"assistant:{SAM}:{SAM_DM}:{ABOUT_IAN}")
    ada_threads = _threads(rt, f"assistant:{REP}:{DM}:{ABOUT_ADA}")
    assert ada_threads
    with rt.db.read() as session:
        logged = {(r.channel, r.thread_ts) for r in session.scalars(select(SlackMessageLog))}
    assert {(DM, ABOUT_IAN), (DM, SNOOZE), (DM, ABOUT_ADA)} <= logged  # answers are logged
    before = (_rows_with(rt, NEEDLES), files_with(), _slack_texts_with(fake_slack, NEEDLES))
    assert before[0] and before[2] and (files is None or before[1]), before
    assert "assistant_proposals" in before[0]["Ian Ito"]

    response = client.delete(f"/v1/leads/{ian}")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["store"]["assistant_proposals"] == 1
    assert report["store"]["assistant_replies_rewritten"] >= 3
    assert report["checkpoints"]["threads"] >= 4  # the handoff's and the assistant's three
    worker.run_until_idle()  # the redaction jobs

    assert _threads(rt, f"assistant:{REP}:{DM}:{ABOUT_IAN}") == set()
    assert _threads(rt, f"assistant:{REP}:{DM}:{SNOOZE}") == set()
    assert _threads(rt, f"assistant:{SAM}:") == set()
    with rt.db.read() as session:
        assert session.scalars(select(AssistantProposal)
                               .where(AssistantProposal.lead_id == ian)).all() == []
        assert all(ian not in (r.lead_ids or [])
                   for r in session.scalars(select(AssistantReply)))
    after = (_rows_with(rt, NEEDLES), files_with(), _slack_texts_with(fake_slack, NEEDLES))
    assert after == ({}, {}, {}), f"left after the erasure: {after} (before: {before})"

    # The conversation about Ada only is untouched: its history and its answer in Slack.
    assert _threads(rt, f"assistant:{REP}:{DM}:{ABOUT_ADA}") == ada_threads
    assert fake_slack.message(DM, ada_message["ts"])["text"] == ada_message["text"]
    assert "Ada Park" in all_text(fake_slack.message(DM, ada_message["ts"])["blocks"])


class _ErasingMidAnswer:
    """The assistant's graph, with the lead erased once its first run returns: an erasure that
    lands while the model answers, before the reply's row says whom the answer quotes."""

    def __init__(self, graph: Any, erase: Any) -> None:
        self._graph, self._erase, self._done = graph, erase, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        state = self._graph.invoke(*args, **kwargs)
        if not self._done:
            self._done = True
            self._erase()
        return state


def test_an_erasure_while_the_assistant_answers_leaves_no_conversation(
        rt: Any, seeded: dict[str, str], riley: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.assistant import ask
    from service.erasure import erase_lead

    ian = seeded["ian"]
    monkeypatch.setitem(rt.__dict__, "assistant_graph", _ErasingMidAnswer(
        rt.assistant_graph, lambda: erase_lead(rt, ian, actor="admin")))
    reply = ask(rt, riley, "D1:77", "why is Initech hot?")
    assert ian in reply.mentions  # the answer was about Ian, and was made before the erasure
    assert _threads(rt, "assistant:") == set()  # its conversation's checkpoints went with him
    with rt.db.read() as session:
        assert [r.lead_ids for r in session.scalars(select(AssistantReply))] == [[]]
