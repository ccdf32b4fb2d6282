"""Drill: replayed Slack deliveries and double clicks send once.

Slack retries event deliveries it thinks failed (`X-Slack-Retry-Num`), people double-click, and
proxies replay requests. Here one card's Approve click is delivered hundreds of times (the same
signed body, concurrently, plus fresh clicks by the assignee and a manager), and a thread reply
asking for a revision is delivered hundreds of times with the same `event_id`. Exactly one
decision is recorded, exactly one email leaves, exactly one new version is drafted.

`make test` runs it with 100 deliveries; `make drills` with 1,000
(tests/drills/test_drill_replay_1000.py).
"""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.drills.replay_drill import run_replay_drill


@pytest.fixture
def settings(slack_settings: Settings) -> Settings:
    """The Slack surface on (tests/conftest.py: the fake Web API)."""
    return slack_settings


def test_100_replayed_deliveries_send_once(client, worker, rt, fake_slack, slack,  # type: ignore[no-untyped-def]
                                           smtp_sink) -> None:
    result = run_replay_drill(client, worker, rt, fake_slack, slack, smtp_sink, 100)
    assert result["emails"] == 1
