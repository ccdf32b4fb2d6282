"""Shared parts of the CRM hook tests: settings with every hook's secret, the recorded payloads
(tests/fixtures/crm, sources in its README) and the vendors' ways of signing."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from tests.conftest import make_settings
from tools.crm.hubspot_api import hubspot_signature_v3

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
HUBSPOT_SECRET = "hubspot-test-client-secret"
HUBSPOT_API = "https://hubspot.test"
PUBLIC_URL = "https://hitl.example.com"
SF_ORG = "00D5g000004Fq2xEAC"
SF_KEY = "sf-hook-key-test"
SEGMENT_KEY = "segment-write-key-test"


def crm_settings(tmp_path: Path, smtp_url: str, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        smtp_url=smtp_url, database_url=database_url, public_url=PUBLIC_URL,
        hubspot_client_secret=HUBSPOT_SECRET, hubspot_access_token="pat-test",
        hubspot_api_url=HUBSPOT_API, salesforce_org_id=SF_ORG, salesforce_hook_key=SF_KEY,
        segment_write_key=SEGMENT_KEY)
    values.update(overrides)
    return make_settings(tmp_path, **values)


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, database_url: str) -> Settings:
    """The shared `settings`, with every CRM hook turned on."""
    return crm_settings(tmp_path, smtp_sink.url, database_url)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def hubspot_headers(body: bytes, at: datetime, *, secret: str = HUBSPOT_SECRET,
                    uri: str = f"{PUBLIC_URL}/hooks/hubspot") -> dict[str, str]:
    """The headers HubSpot sends: the v3 signature of POST + the target URL + body + time."""
    timestamp = str(int(at.timestamp() * 1000))
    return {"X-HubSpot-Signature-v3": hubspot_signature_v3(secret, "POST", uri, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp, "X-HubSpot-Signature-Version": "v3",
            "Content-Type": "application/json", "Authorization": ""}


def segment_headers(key: str = SEGMENT_KEY) -> dict[str, str]:
    token = base64.b64encode(f"{key}:".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
