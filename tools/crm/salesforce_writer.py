"""Write-back to Salesforce over its REST API (sObjects), base `SALESFORCE_INSTANCE_URL`.

- Owner task and logged email: upserts of `Task` by an external id,
  `PATCH /services/data/vXX.X/sobjects/Task/{external id field}/{key}` ("Insert or Update
  (Upsert) a Record Using an External ID": created once, updated in place when retried). The
  field (`Hitl_Key__c` by default) is a custom Text field on Activity marked External ID and
  Unique (see the README). Fields: `WhoId` (the Lead, else the Contact, with the lead's email),
  `Subject`, `ActivityDate` (the SLA's due date), `Description`, `OwnerId` (the active User with
  the owner's email), `Status`, `Priority`; the logged email is a completed Task of `Type`
  Email (an `EmailMessage` would need the email's threading and a parent record).
- Lead status: `PATCH /services/data/vXX.X/sobjects/Lead/{id}` with `Status` (the same value
  twice changes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from config.http import api_client
from tools.crm.writer import CrmError, LoggedEmail, OwnerTask, request

API_VERSION = "v60.0"
EXTERNAL_ID_FIELD = "Hitl_Key__c"


def _soql_literal(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped, as the SOQL reference requires."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SalesforceWriter:
    name = "salesforce"

    def __init__(self, instance_url: str, token: str, *, client: httpx.Client | None = None,
                 api_version: str = API_VERSION, external_id_field: str = EXTERNAL_ID_FIELD,
                 timeout: float = 10.0) -> None:
        self.base_url = f"{instance_url.rstrip('/')}/services/data/{api_version}"
        self.client = client or api_client(timeout=timeout)
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.external_id_field = external_id_field
        self._users: dict[str, str | None] = {}

    # -- lookups ---------------------------------------------------------------------------

    def _query_id(self, soql: str, what: str) -> str | None:
        response = request(self.client, "GET", f"{self.base_url}/query", params={"q": soql},
                           what=f"salesforce {what}")
        records = response.json().get("records") or []
        return str(records[0]["Id"]) if records else None

    def lead_id(self, email: str) -> str | None:
        return self._query_id(
            f"SELECT Id FROM Lead WHERE Email = {_soql_literal(email)} AND IsConverted = false "
            "ORDER BY CreatedDate DESC LIMIT 1", "lead lookup")

    def who_id(self, email: str) -> str:
        """The Lead with this email, else the Contact (a converted lead lives on as one)."""
        found = self.lead_id(email) or self._query_id(
            f"SELECT Id FROM Contact WHERE Email = {_soql_literal(email)} "
            "ORDER BY CreatedDate DESC LIMIT 1", "contact lookup")
        if found is None:
            raise CrmError("salesforce lookup: no Lead or Contact has the lead's email",
                           transient=False)
        return found

    def user_id(self, email: str | None) -> str | None:
        if not email:
            return None
        if email not in self._users:
            self._users[email] = self._query_id(
                f"SELECT Id FROM User WHERE Email = {_soql_literal(email)} AND IsActive = true "
                "LIMIT 1", "user lookup")
        return self._users[email]

    def _upsert_task(self, key: str, fields: dict[str, Any], owner_email: str | None) -> str:
        owner = self.user_id(owner_email)
        if owner is not None:
            fields["OwnerId"] = owner
        response = request(
            self.client, "PATCH",
            f"{self.base_url}/sobjects/Task/{self.external_id_field}/{quote(key, safe='')}",
            json=fields, what="salesforce task upsert")
        if response.status_code == 204 or not response.content:
            return ""
        return str(response.json().get("id", ""))

    # -- CrmWriter -------------------------------------------------------------------------

    def create_owner_task(self, task: OwnerTask, *, idempotency_key: str) -> str:
        fields: dict[str, Any] = {
            "WhoId": self.who_id(task.contact_email), "Subject": task.subject[:255],
            "Description": task.body[:32000], "Status": "Not Started", "Priority": "High",
        }
        if task.due_at is not None:
            fields["ActivityDate"] = task.due_at.date().isoformat()
        return self._upsert_task(idempotency_key, fields, task.owner_email)

    def set_lead_status(self, contact_email: str, fields: Mapping[str, str], *,
                        idempotency_key: str) -> str:
        lead = self.lead_id(contact_email)
        if lead is None:
            raise CrmError("salesforce lead update: no open Lead has the lead's email",
                           transient=False)
        request(self.client, "PATCH", f"{self.base_url}/sobjects/Lead/{lead}", json=dict(fields),
                what="salesforce lead update")
        return lead

    def log_email(self, email: LoggedEmail, *, idempotency_key: str) -> str:
        fields: dict[str, Any] = {
            "WhoId": self.who_id(email.contact_email),
            "Subject": f"Email: {email.subject}"[:255],
            "Description": email.body[:32000], "Status": "Completed", "Type": "Email",
            "ActivityDate": email.sent_at.date().isoformat(), "Priority": "Normal",
        }
        return self._upsert_task(idempotency_key, fields, email.owner_email)
