"""Write-back to HubSpot over its CRM v3 API (https://developers.hubspot.com/docs/api/crm).

- Owner task: `POST /crm/v3/objects/tasks` (`hs_timestamp` = the due time, `hs_task_subject`,
  `hs_task_body`, `hs_task_status`, `hs_task_priority`, `hubspot_owner_id`), associated with the
  contact (HUBSPOT_DEFINED association type 204, task -> contact).
- Lead status: `PATCH /crm/v3/objects/contacts/{email}?idProperty=email` with `lifecyclestage` /
  `hs_lead_status` (setting the same values twice changes nothing: naturally idempotent). The
  lifecycle stage only moves forward: the contact's current stage is read first
  (`GET .../contacts/{email}?idProperty=email&properties=lifecyclestage`).
- Logged email: `POST /crm/v3/objects/emails` (`hs_email_direction=EMAIL`, `hs_email_status=SENT`,
  `hs_email_subject`, `hs_email_text`, `hs_email_headers`), associated with the contact (198).

HubSpot has no Idempotency-Key header. Each task and email carries our key in a text property
(`hitl_idempotency_key` by default: create it once on Tasks and on Emails, see the README), and
is created only when `POST /crm/v3/objects/{tasks,emails}/search` finds none with that key.
Search is eventually consistent (a few seconds), so the service also keeps a ledger of what it
wrote (service/crm_writeback.py): the search covers the window where HubSpot took the write but
our process died before recording it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from config.http import api_client
from tools.crm.writer import CrmError, LoggedEmail, OwnerTask, request

TASK_TO_CONTACT = 204
EMAIL_TO_CONTACT = 198
IDEMPOTENCY_PROPERTY = "hitl_idempotency_key"


# HubSpot's default lifecycle stages, in funnel order. The stage only moves forward: a handoff
# must not turn a customer back into a sales-qualified lead (custom stages, whose order we do
# not know, are written as the mapping says).
STAGE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
               "opportunity", "customer", "evangelist")


def _moves_forward(current: str | None, target: str) -> bool:
    if not current or current not in STAGE_ORDER or target not in STAGE_ORDER:
        return True
    return STAGE_ORDER.index(target) > STAGE_ORDER.index(current)


def _millis(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


class HubSpotWriter:
    name = "hubspot"

    def __init__(self, base_url: str, token: str, *, client: httpx.Client | None = None,
                 idempotency_property: str | None = IDEMPOTENCY_PROPERTY,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or api_client(timeout=timeout)
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.idempotency_property = idempotency_property or None
        self._owners: dict[str, str | None] = {}

    # -- lookups ---------------------------------------------------------------------------

    def contact_id(self, email: str) -> str:
        response = request(self.client, "GET",
                           f"{self.base_url}/crm/v3/objects/contacts/{quote(email, safe='@')}",
                           params={"idProperty": "email"}, what="hubspot contact lookup",
                           ok_missing=True)
        if response.status_code == 404:
            raise CrmError("hubspot contact lookup: no HubSpot contact has the lead's email",
                           transient=False)
        return str(response.json()["id"])

    def owner_id(self, email: str | None) -> str | None:
        """The HubSpot owner (user) with this email, or None: the task is then unassigned."""
        if not email:
            return None
        if email not in self._owners:
            response = request(self.client, "GET", f"{self.base_url}/crm/v3/owners",
                               params={"email": email, "limit": 1}, what="hubspot owner lookup")
            results = response.json().get("results") or []
            self._owners[email] = str(results[0]["id"]) if results else None
        return self._owners[email]

    def _existing(self, object_type: str, key: str) -> str | None:
        if self.idempotency_property is None:
            return None
        body = {"filterGroups": [{"filters": [{"propertyName": self.idempotency_property,
                                               "operator": "EQ", "value": key}]}],
                "properties": [self.idempotency_property], "limit": 1}
        response = request(self.client, "POST",
                           f"{self.base_url}/crm/v3/objects/{object_type}/search", json=body,
                           what=f"hubspot {object_type} search")
        results = response.json().get("results") or []
        return str(results[0]["id"]) if results else None

    def _create(self, object_type: str, key: str, properties: dict[str, Any],
                contact_email: str, association_type: int) -> str:
        found = self._existing(object_type, key)
        if found is not None:
            return found
        if self.idempotency_property is not None:
            properties[self.idempotency_property] = key
        body = {"properties": properties, "associations": [{
            "to": {"id": self.contact_id(contact_email)},
            "types": [{"associationCategory": "HUBSPOT_DEFINED",
                       "associationTypeId": association_type}]}]}
        response = request(self.client, "POST", f"{self.base_url}/crm/v3/objects/{object_type}",
                           json=body, what=f"hubspot {object_type} create")
        return str(response.json().get("id", ""))

    # -- CrmWriter -------------------------------------------------------------------------

    def create_owner_task(self, task: OwnerTask, *, idempotency_key: str) -> str:
        properties: dict[str, Any] = {
            "hs_task_subject": task.subject[:255], "hs_task_body": task.body,
            "hs_task_status": "NOT_STARTED", "hs_task_priority": "HIGH", "hs_task_type": "TODO",
        }
        if task.due_at is not None:
            properties["hs_timestamp"] = _millis(task.due_at)
        owner = self.owner_id(task.owner_email)
        if owner is not None:
            properties["hubspot_owner_id"] = owner
        return self._create("tasks", idempotency_key, properties, task.contact_email,
                            TASK_TO_CONTACT)

    def set_lead_status(self, contact_email: str, fields: Mapping[str, str], *,
                        idempotency_key: str) -> str:
        url = f"{self.base_url}/crm/v3/objects/contacts/{quote(contact_email, safe='@')}"
        properties = dict(fields)
        if "lifecyclestage" in properties:
            current = request(self.client, "GET", url, what="hubspot contact lookup",
                              params={"idProperty": "email", "properties": "lifecyclestage"},
                              ok_missing=True)
            if current.status_code != 404 and not _moves_forward(
                    (current.json().get("properties") or {}).get("lifecyclestage"),
                    properties["lifecyclestage"]):
                del properties["lifecyclestage"]  # never demote a customer to a lead
            if not properties:
                return str(current.json().get("id", "")) if current.status_code != 404 else ""
        response = request(self.client, "PATCH", url, params={"idProperty": "email"},
                           json={"properties": properties}, what="hubspot contact update",
                           ok_missing=True)
        if response.status_code == 404:
            raise CrmError("hubspot contact update: no HubSpot contact has the lead's email",
                           transient=False)
        return str(response.json().get("id", ""))

    def log_email(self, email: LoggedEmail, *, idempotency_key: str) -> str:
        headers = {"from": {"email": email.from_email}, "to": [{"email": email.contact_email}],
                   "cc": [], "bcc": []}
        properties: dict[str, Any] = {
            "hs_timestamp": _millis(email.sent_at), "hs_email_direction": "EMAIL",
            "hs_email_status": "SENT", "hs_email_subject": email.subject[:255],
            "hs_email_text": email.body, "hs_email_headers": json.dumps(headers),
        }
        owner = self.owner_id(email.owner_email)
        if owner is not None:
            properties["hubspot_owner_id"] = owner
        return self._create("emails", idempotency_key, properties, email.contact_email,
                            EMAIL_TO_CONTACT)
