"""Drill: 1,000 replayed Slack deliveries and double clicks send once (see
tests/drills/test_drills_replay.py, which runs the same drill with 100 in `make test`)."""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.drills.replay_drill import run_replay_drill


@pytest.fixture
def settings(slack_settings: Settings) -> Settings:
    """The Slack surface on (tests/conftest.py: the fake Web API)."""
    return slack_settings


@pytest.mark.timeout(600)
def test_1000_replayed_deliveries_send_once(client, worker, rt, fake_slack, slack,  # type: ignore[no-untyped-def]
                                            smtp_sink) -> None:
    result = run_replay_drill(client, worker, rt, fake_slack, slack, smtp_sink, 1000)
    print(f"\n1,000 deliveries in {result['seconds']} s: {result['decision']}, "
          f"{result['refusals']} ephemeral refusals, {result['emails']} email")
    assert result["emails"] == 1
