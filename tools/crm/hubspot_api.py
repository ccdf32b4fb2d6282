"""Reading HubSpot: the v3 webhook signature and the contacts batch read.

- Signature v3 (https://developers.hubspot.com/docs/apps/legacy-apps/authentication/
  validating-requests): base64 of HMAC-SHA256, keyed with the app's client secret, over
  `method + URI + body + timestamp` (X-HubSpot-Request-Timestamp, milliseconds); requests older
  than five minutes are refused.
- Contacts: `POST {HUBSPOT_API_URL}/crm/v3/objects/contacts/batch/read` with
  `{"properties": [...], "inputs": [{"id": "..."}]}` (at most 100 ids a call), answered
  `{"status": "COMPLETE", "results": [{"id", "properties", ...}]}`; a contact that no longer
  exists is simply absent from `results`. 429 (rate limit) and 5xx are transient; the caller
  retries no sooner than `Retry-After` when HubSpot sends one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from config.http import api_client

if TYPE_CHECKING:
    # Imported where a request is made: the web process imports this module for the webhook
    # signature alone (README, "Performance choices": no worker engines in the web).
    import httpx

BATCH_LIMIT = 100
CACHE_ENTRIES = 10_000
# HubSpot's rate-limit answer rarely carries Retry-After; its windows are 1 s and 10 s.
DEFAULT_RETRY_AFTER_S = 10.0
# HubSpot asks that these characters be decoded in the URI before signing it.
_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
            "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def hubspot_signature_v3(secret: str, method: str, uri: str, body: bytes,
                         timestamp: str) -> str:
    """The X-HubSpot-Signature-v3 HubSpot sends for this request."""
    for encoded, plain in _DECODED.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_matches(secret: str, signature: str, *, method: str, uris: Iterable[str],
                      body: bytes, timestamp: str) -> bool:
    """Whether `signature` is HubSpot's for any of `uris` (the public URL, the one seen)."""
    given = signature.strip().encode()
    return any(hmac.compare_digest(
        given, hubspot_signature_v3(secret, method, uri, body, timestamp).encode())
        for uri in uris)


class HubSpotApiError(Exception):
    """The CRM API failed: `transient` (rate limit, outage: try again, no sooner than
    `retry_after` seconds) or not (a refused token, a bad request)."""

    def __init__(self, message: str, *, transient: bool,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


class HubSpotContacts:
    """Contact properties by id, read in batches and kept `ttl` (a burst of deliveries about
    one contact reads it once)."""

    def __init__(self, base_url: str, token: str, *, now: Callable[[], datetime],
                 ttl: timedelta = timedelta(minutes=2), client: httpx.Client | None = None,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.now = now
        self.ttl = ttl
        if client is None:
            client = api_client(timeout=timeout)
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[datetime, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def read(self, ids: Iterable[str], properties: list[str]) -> dict[str, dict[str, Any]]:
        """Properties of each contact that exists, by id (cached, then batch-read)."""
        wanted = tuple(sorted(properties))
        now = self.now()
        found: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        with self._lock:
            self._trim(now)
            for contact_id in dict.fromkeys(ids):
                cached = self._cache.get((contact_id, wanted))
                if cached is not None and now - cached[0] < self.ttl:
                    if cached[1] is not None:
                        found[contact_id] = cached[1]
                else:
                    missing.append(contact_id)
        for start in range(0, len(missing), BATCH_LIMIT):
            chunk = missing[start:start + BATCH_LIMIT]
            results = self._batch_read(chunk, list(wanted))
            with self._lock:
                for contact_id in chunk:
                    props = results.get(contact_id)
                    self._cache.pop((contact_id, wanted), None)  # re-inserted as the newest
                    self._cache[(contact_id, wanted)] = (now, props)
                    if props is not None:
                        found[contact_id] = props
                self._trim(now)
        return found

    def _trim(self, now: datetime) -> None:
        """Expired entries go at every read, not only when the cache is full: they hold
        contacts' records (names, addresses), which are kept no longer than they are used.
        Then, bounded, the oldest. Insertion order is age order (an entry read again is
        re-inserted), so both are taken from the front."""
        while self._cache:
            oldest = next(iter(self._cache))
            if now - self._cache[oldest][0] < self.ttl and len(self._cache) <= CACHE_ENTRIES:
                return
            del self._cache[oldest]

    def _batch_read(self, ids: list[str], properties: list[str]) -> dict[str, dict[str, Any]]:
        import httpx

        url = f"{self.base_url}/crm/v3/objects/contacts/batch/read"
        try:
            response = self.client.post(url, headers=self.headers, json={
                "properties": properties, "inputs": [{"id": i} for i in ids]})
        except httpx.TransportError as exc:
            raise HubSpotApiError(f"HubSpot API unreachable: {type(exc).__name__}",
                                  transient=True) from exc
        if response.status_code == 429:
            raise HubSpotApiError("HubSpot API rate limit (429)", transient=True,
                                  retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise HubSpotApiError(f"HubSpot API answered {response.status_code}",
                                  transient=True)
        if response.status_code >= 400:
            raise HubSpotApiError(f"HubSpot API refused the contacts read "
                                  f"({response.status_code}): {response.text[:200]}",
                                  transient=False)
        try:
            results = response.json().get("results", [])
            return {str(r["id"]): dict(r.get("properties") or {}) for r in results
                    if not r.get("archived")}
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            raise HubSpotApiError(f"HubSpot API answered an unreadable batch: {exc}",
                                  transient=True) from exc
