"""Fixtures for the service tests. The assistant's: the seeded team's store
(evals/assistant_seed.py) on the test runtime, and the roster members who talk to it."""

from __future__ import annotations

from typing import Any

import pytest

from evals.assistant_seed import MORGAN, RILEY, SAM, SEED_NOW, seed_assistant_store
from tests.conftest import T0


@pytest.fixture
def seeded(rt: Any, worker: Any) -> dict[str, str]:
    """Lead key -> lead id, after the worker drafted every card (clock frozen at T0)."""
    assert T0 == SEED_NOW
    return seed_assistant_store(rt, worker.run_until_idle)


@pytest.fixture
def riley(rt: Any) -> Any:
    return rt.roster.find(RILEY)


@pytest.fixture
def sam(rt: Any) -> Any:
    return rt.roster.find(SAM)


@pytest.fixture
def morgan(rt: Any) -> Any:
    return rt.roster.find(MORGAN)


@pytest.fixture
def claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many jobs each call of `service.jobs.claim` took, in order (the worker's dispatcher
    claims through it; a chained job handed over by `complete` does not)."""
    from service import jobs

    taken: list[int] = []
    original = jobs.claim

    def counting_claim(*args: Any, **kwargs: Any) -> Any:
        claimed = original(*args, **kwargs)
        taken.append(len(claimed))
        return claimed

    monkeypatch.setattr(jobs, "claim", counting_claim)
    return taken
