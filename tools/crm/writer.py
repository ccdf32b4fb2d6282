"""Write-back to the CRM, behind one small interface (issue 16, item 4).

What the product decided reaches the CRM where the rest of the company looks: a task for the
owner when a handoff starts, the lead status after every decision, the sent email logged on the
contact. Each call carries an idempotency key derived from the handoff, its version and the kind
of write; an implementation makes a repeated call with the same key change nothing (HubSpot:
search-before-create on a key property; Salesforce: upsert by an external id). Failures are
`CrmError`s, transient (retry later, maybe after `retry_after` seconds) or not.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx


class CrmError(Exception):
    """A CRM call failed. `transient`: an outage or a rate limit (try again later, no sooner
    than `retry_after` seconds when the CRM said so); otherwise the CRM refused the request."""

    def __init__(self, message: str, *, transient: bool,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class OwnerTask:
    """A to-do for the lead's owner: call or write to this contact by `due_at` (the SLA)."""

    contact_email: str
    owner_email: str | None
    subject: str
    body: str
    due_at: datetime | None


@dataclass(frozen=True)
class LoggedEmail:
    """An email the product sent on the owner's behalf, to be shown on the contact's timeline."""

    contact_email: str
    owner_email: str | None
    from_email: str
    subject: str
    body: str
    sent_at: datetime
    message_id: str | None = None


class CrmWriter(Protocol):
    """One CRM's write-back. Every method is idempotent by `idempotency_key` and returns the
    CRM's id of the record written (empty when the CRM has none to give)."""

    name: str

    def create_owner_task(self, task: OwnerTask, *, idempotency_key: str) -> str: ...

    def set_lead_status(self, contact_email: str, fields: Mapping[str, str], *,
                        idempotency_key: str) -> str: ...

    def log_email(self, email: LoggedEmail, *, idempotency_key: str) -> str: ...


@dataclass
class RecordingCrmWriter:
    """Test and demo double: records each write once per idempotency key, as the real CRMs
    behave, and can be told to fail (`fail_with`) to rehearse an outage."""

    name: str = "recording"
    calls: list[dict[str, Any]] = field(default_factory=list)  # one per key
    received: list[str] = field(default_factory=list)  # every call's key, repeats too
    fail_with: CrmError | None = None
    _by_key: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _write(self, kind: str, key: str, record: dict[str, Any]) -> str:
        with self._lock:
            self.received.append(key)
            if self.fail_with is not None:
                raise self.fail_with
            if key not in self._by_key:
                self._by_key[key] = f"{kind}-{len(self._by_key) + 1}"
                self.calls.append({"kind": kind, "idempotency_key": key, **record})
            return self._by_key[key]

    def create_owner_task(self, task: OwnerTask, *, idempotency_key: str) -> str:
        return self._write("task", idempotency_key, {"task": task})

    def set_lead_status(self, contact_email: str, fields: Mapping[str, str], *,
                        idempotency_key: str) -> str:
        return self._write("lead_status", idempotency_key,
                           {"contact_email": contact_email, "fields": dict(fields)})

    def log_email(self, email: LoggedEmail, *, idempotency_key: str) -> str:
        return self._write("email", idempotency_key, {"email": email})


# -- HTTP plumbing shared by the HubSpot and Salesforce implementations ---------------------

def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` as seconds (either form RFC 9110 allows), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        date = response.headers.get("Date")
        now = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None
    if now is None:
        return None
    return max(0.0, (when - now).total_seconds())


def request(client: httpx.Client, method: str, url: str, *, what: str,
            ok_missing: bool = False, **kwargs: Any) -> httpx.Response:
    """One CRM call, its failures sorted into transient and not. With `ok_missing`, a 404 is
    an answer (the record does not exist), not an error."""
    crm = what.split(" ", 1)[0]
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise CrmError(f"{what}: {crm} unreachable ({type(exc).__name__})",
                       transient=True) from exc
    status = response.status_code
    if status == 429 or status >= 500 or _salesforce_limit(response):
        raise CrmError(f"{what}: {crm} answered {status}", transient=True,
                       retry_after=retry_after_seconds(response))
    if status == 404 and ok_missing:
        return response
    if 300 <= status < 400:
        # Not followed (a write must not be replayed, token and all, wherever a Location
        # points): the write did not happen. A renamed instance or an http:// base URL answers
        # this way, and retrying will not help until the setting is fixed.
        raise CrmError(f"{what}: {crm} redirected it ({status}) to "
                       f"{httpx.URL(response.headers.get('Location', '')).host or 'nowhere'}; "
                       "check its base URL setting", transient=False)
    if status >= 400:
        raise CrmError(f"{what}: {crm} refused it ({status}): {_error_text(response)}",
                       transient=False)
    return response


def _salesforce_limit(response: httpx.Response) -> bool:
    """Salesforce answers 403 REQUEST_LIMIT_EXCEEDED when the org's daily API quota is spent:
    it comes back (rolling 24 hours), so it is worth retrying."""
    return response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in response.text[:2000]


def _error_text(response: httpx.Response) -> str:
    """The CRM's error code and message, short (it may quote the record; it goes to logs)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, list) and body and isinstance(body[0], dict):  # Salesforce
        return f"{body[0].get('errorCode', '')}: {str(body[0].get('message', ''))[:200]}"
    if isinstance(body, dict):  # HubSpot
        return f"{body.get('category', '')}: {str(body.get('message', ''))[:200]}"
    return response.text[:200]
