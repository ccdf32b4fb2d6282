"""The CRM hooks on PostgreSQL (the scale-out database): the same flows as on SQLite, where
the dialects differ (ON CONFLICT upserts of identities and events, the job queue's claim)."""

from __future__ import annotations

import pytest

from tests.api.crm_hooks import settings  # noqa: F401 (the fixture: every hook on)
from tests.api.test_hooks_hubspot import (  # noqa: F401 (collected here on PostgreSQL)
    test_form_fill_becomes_a_lead_and_a_demo_request,
    test_redeliveries_and_retries_make_one_event,
)
from tests.api.test_hooks_salesforce import (  # noqa: F401
    test_retries_of_the_same_notification_make_one_event,
)
from tests.api.test_hooks_segment import (  # noqa: F401
    test_track_without_email_finds_its_person_by_user_id,
)


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url
