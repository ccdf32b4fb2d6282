"""The marketing-automation system, behind one small interface.

The handoff enrols leads in pre-approved nurture tracks (after a recycle, or as momentum rescue);
it never sends its own copy there. `HttpMarketingAutomation` speaks a plain JSON API; adapters for
a specific vendor implement the same `enroll()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from config.http import api_client


class EnrolmentError(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class MarketingAutomation(Protocol):
    def enroll(self, *, lead_id: str, email: str, track: str, reason: str,
               idempotency_key: str) -> None:
        """Enrol once per idempotency key; raise EnrolmentError on failure."""


class HttpMarketingAutomation:
    """POST {base}/enrollments with an Idempotency-Key, so a retried job enrols once."""

    def __init__(self, base_url: str, token: str | None = None, *,
                 client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = client or api_client(timeout=timeout, headers=headers)

    def enroll(self, *, lead_id: str, email: str, track: str, reason: str,
               idempotency_key: str) -> None:
        try:
            response = self.client.post(
                f"{self.base_url}/enrollments",
                json={"lead_id": lead_id, "email": email, "track": track, "reason": reason},
                headers={"Idempotency-Key": idempotency_key},
            )
        except httpx.TransportError as exc:
            raise EnrolmentError(f"marketing automation unreachable: {type(exc).__name__}",
                                 transient=True) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise EnrolmentError(f"marketing automation answered {response.status_code}",
                                 transient=True)
        if response.status_code >= 400:
            raise EnrolmentError(f"marketing automation refused the enrolment "
                                 f"({response.status_code}): {response.text[:200]}",
                                 transient=False)


@dataclass
class RecordingMarketingAutomation:
    """Test double: records enrolments, once per idempotency key like the real API."""

    enrolments: dict[str, dict[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enroll(self, *, lead_id: str, email: str, track: str, reason: str,
               idempotency_key: str) -> None:
        with self._lock:
            self.enrolments.setdefault(idempotency_key, {
                "lead_id": lead_id, "email": email, "track": track, "reason": reason})
