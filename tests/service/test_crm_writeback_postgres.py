"""The CRM write-back on the scale-out path: PostgreSQL (jobs claimed with SKIP LOCKED, the
ledger in the audit log), a respx HubSpot. Skipped without PostgreSQL; mandatory in CI."""

from __future__ import annotations

import pytest

from tests.service.test_crm_writeback_outage import (  # noqa: F401 (fixtures)
    hubspot,
    settings,
    test_card_and_decision_write_task_status_and_email_to_hubspot,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url
