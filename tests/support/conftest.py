"""The support tests: the API with the knowledge base, Slack on (handoff cards go to the support
channel of the fake Web API)."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import Settings
from tests.fake_slack import SlackSide


@pytest.fixture
def settings(slack_settings: Settings) -> Settings:
    return slack_settings


@pytest.fixture
def slack(support_client: Any) -> SlackSide:
    """Slack's side of the support app (signed requests)."""
    return SlackSide(support_client)
