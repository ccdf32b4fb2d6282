"""Reading every HubSpot contact, page by page, for a team's first day (issue 16, item 6).

`GET {HUBSPOT_API_URL}/crm/v3/objects/contacts?limit=100&properties=a,b&after=CURSOR` answers
`{"results": [{"id", "properties", "updatedAt", ...}], "paging": {"next": {"after": "..."}}}`;
the last page has no `paging.next`. The list endpoint, not search: search stops at 10,000
results. A 429 or 5xx is waited out (`Retry-After` when HubSpot sends one) a few times before
the run stops, naming the cursor to resume from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from config.http import api_client
from tools.crm.writer import CrmError, request

PAGE_LIMIT = 100  # HubSpot's maximum for the list endpoint
DEFAULT_WAIT_S = 10.0


@dataclass(frozen=True)
class ContactPage:
    contacts: list[dict[str, Any]]
    after: str | None  # the cursor of this page (None: the first)
    next_after: str | None  # None: this was the last page


class HubSpotContactPages:
    def __init__(self, base_url: str, token: str, *, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] | None = None, attempts: int = 5,
                 timeout: float = 30.0) -> None:
        import time

        self.base_url = base_url.rstrip("/")
        self.client = client or api_client(timeout=timeout)
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.sleep = sleep or time.sleep
        self.attempts = attempts

    def page(self, properties: list[str], *, after: str | None = None,
             limit: int = PAGE_LIMIT) -> ContactPage:
        params: dict[str, Any] = {"limit": limit, "properties": ",".join(properties),
                                  "archived": "false"}
        if after:
            params["after"] = after
        for attempt in range(1, self.attempts + 1):
            try:
                response = request(self.client, "GET", f"{self.base_url}/crm/v3/objects/contacts",
                                   params=params, what="hubspot contacts list")
                break
            except CrmError as exc:
                if not exc.transient or attempt == self.attempts:
                    raise
                self.sleep(exc.retry_after if exc.retry_after is not None
                           else DEFAULT_WAIT_S * attempt)
        body = response.json()
        next_after = ((body.get("paging") or {}).get("next") or {}).get("after")
        return ContactPage(contacts=list(body.get("results") or []), after=after,
                           next_after=str(next_after) if next_after else None)

    def pages(self, properties: list[str], *, after: str | None = None,
              limit: int = PAGE_LIMIT) -> Iterator[ContactPage]:
        """Every page from `after` (the start when None) to the last."""
        while True:
            page = self.page(properties, after=after, limit=limit)
            yield page
            if page.next_after is None:
                return
            after = page.next_after
