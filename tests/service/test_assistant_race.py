"""Two asks at once in the same conversation take turns (the conversation's lease,
service/turn_lease.py, as the support inbox's): both turns end up in the thread's history,
neither overwrites the other. Another conversation is not held up meanwhile."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from service import turn_lease
from service.assistant import ask
from service.assistant_port import StoreAssistantPort


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, and PostgreSQL where it runs (skipped otherwise; CI runs it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hitl.db'}"
    return str(request.getfixturevalue("postgres_url"))


class Gate:
    """Holds the first `kpis` read (inside the graph, under the conversation's lease) until
    released, and notes when another ask finds the lease taken and waits for it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.waited = threading.Event()
        real_kpis, real_sleep = StoreAssistantPort.kpis, turn_lease.time.sleep
        first = threading.Lock()

        def kpis(port: StoreAssistantPort, days: int) -> Any:
            if first.acquire(blocking=False):
                self.inside.set()
                assert self.release.wait(30), "the test never released the first ask"
            return real_kpis(port, days)

        def sleep(seconds: float) -> None:
            self.waited.set()
            real_sleep(seconds)

        monkeypatch.setattr(StoreAssistantPort, "kpis", kpis)
        monkeypatch.setattr(turn_lease.time, "sleep", sleep)


def _in_thread(target: Any, *args: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["reply"] = target(*args)
        except BaseException as exc:  # reported by the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_two_asks_in_one_conversation_take_turns(rt, seeded, riley,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(monkeypatch)
    first, first_out = _in_thread(ask, rt, riley, "D1:1", "how am I doing on SLAs this week?")
    assert gate.inside.wait(30)
    second, second_out = _in_thread(ask, rt, riley, "D1:1", "what's on my plate?")
    # The second ask finds the conversation busy and waits for its turn.
    assert gate.waited.wait(30)
    assert "reply" not in second_out
    gate.release.set()
    first.join(30)
    second.join(30)
    assert "error" not in first_out and "error" not in second_out, (first_out, second_out)

    state = rt.assistant_graph.get_state(
        {"configurable": {"thread_id": f"assistant:{riley.key}:D1:1"}}).values
    assert state["turn"] == 2
    said = [turn["content"] for turn in state["history"] if turn["role"] == "rep"]
    assert said == ["how am I doing on SLAs this week?", "what's on my plate?"]
    assert [t["role"] for t in state["history"]] == ["rep", "assistant"] * 2


def test_another_conversation_is_not_held_up(rt, seeded, riley,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(monkeypatch)
    first, first_out = _in_thread(ask, rt, riley, "D1:1", "how am I doing on SLAs this week?")
    assert gate.inside.wait(30)
    try:
        other = ask(rt, riley, "D1:2", "what's on my plate?")  # answered while D1:1 runs
        assert other.tools_used == ["queue"]
        assert not gate.waited.is_set()
    finally:
        gate.release.set()
        first.join(30)
    assert "error" not in first_out, first_out
