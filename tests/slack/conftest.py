"""The Slack tests run the app with the Slack surface on, against the fake Web API."""

from __future__ import annotations

import pytest

from config.settings import Settings


@pytest.fixture
def settings(slack_settings: Settings) -> Settings:
    return slack_settings
