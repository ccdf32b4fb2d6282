"""respx fakes of the CRMs' APIs as an admin's portal or org behaves, for the round-trip tests:
HubSpot's CRM v3 (contacts batch read, owners, tasks/emails search and create, contact
read/update) and Salesforce's REST API (SOQL lookups, Task upsert by external id, Lead update).
Stateful where the product relies on the state: HubSpot's search finds what was created with a
key, and a contact's lifecycle stage is what the last PATCH set."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx

from tests.api.crm_hooks import HUBSPOT_API, fixture_json

HUBSPOT_OWNER_ID = "55501"
KEY_PROPERTY = "hitl_idempotency_key"


@dataclass
class HubSpotPortal:
    """One HubSpot portal with contact 123 (the recorded form fill's Dana Reyes)."""

    router: respx.MockRouter
    contact: dict[str, Any] = field(default_factory=lambda: dict(
        fixture_json("hubspot_batch_read.json")["results"][0]["properties"]))
    created: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"tasks": [], "emails": []})
    patches: list[dict[str, Any]] = field(default_factory=list)

    def install(self) -> HubSpotPortal:
        api = HUBSPOT_API
        self.router.post(f"{api}/crm/v3/objects/contacts/batch/read", name="batch_read").mock(
            return_value=httpx.Response(200, json=fixture_json("hubspot_batch_read.json")))
        self.router.get(f"{api}/crm/v3/owners", name="owners").mock(side_effect=self._owners)
        for kind in ("tasks", "emails"):
            self.router.post(f"{api}/crm/v3/objects/{kind}/search", name=f"{kind}_search"
                             ).mock(side_effect=lambda r, k=kind: self._search(k, r))
            self.router.post(f"{api}/crm/v3/objects/{kind}", name=f"{kind}_create").mock(
                side_effect=lambda r, k=kind: self._create(k, r))
        contact = f"{api}/crm/v3/objects/contacts/{self.contact['email']}"
        self.router.get(contact, name="contact_read").mock(side_effect=self._read)
        self.router.patch(contact, name="contact_update").mock(side_effect=self._patch)
        return self

    def _owners(self, request: httpx.Request) -> httpx.Response:
        email = request.url.params["email"]
        return httpx.Response(200, json={"results": [
            {"id": HUBSPOT_OWNER_ID, "email": email, "type": "PERSON"}]})

    def _search(self, kind: str, request: httpx.Request) -> httpx.Response:
        [group] = json.loads(request.content)["filterGroups"]
        [test] = group["filters"]
        found = [r for r in self.created[kind]
                 if r["properties"].get(test["propertyName"]) == test["value"]]
        return httpx.Response(200, json={"total": len(found), "results": [
            {"id": r["id"], "properties": r["properties"]} for r in found]})

    def _create(self, kind: str, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        record = {"id": f"{kind}-{len(self.created[kind]) + 1}", **body}
        self.created[kind].append(record)
        return httpx.Response(201, json={"id": record["id"], "properties": body["properties"]})

    def _read(self, request: httpx.Request) -> httpx.Response:
        assert request.url.params["idProperty"] == "email"
        return httpx.Response(200, json={"id": "123", "properties": {
            "lifecyclestage": self.contact.get("lifecyclestage")}})

    def _patch(self, request: httpx.Request) -> httpx.Response:
        assert request.url.params["idProperty"] == "email"
        properties = json.loads(request.content)["properties"]
        self.patches.append(properties)
        self.contact.update(properties)
        return httpx.Response(200, json={"id": "123", "properties": properties})


SF_INSTANCE = "https://acme.my.salesforce.test"
SF_API = f"{SF_INSTANCE}/services/data/v60.0"
SF_LEAD_ID = "00Q5g00000bS2eOUAS"  # the recorded outbound message's Lead
SF_USER_ID = "0055g00000XyZ12AAB"


@dataclass
class SalesforceOrg:
    """One Salesforce org with the recorded outbound message's Lead, open, and its users."""

    router: respx.MockRouter
    lead_status: str = "Open - Not Contacted"
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # by external id
    lead_patches: list[dict[str, Any]] = field(default_factory=list)
    task_calls: list[str] = field(default_factory=list)

    def install(self) -> SalesforceOrg:
        self.router.get(f"{SF_API}/query", name="query").mock(side_effect=self._query)
        self.router.patch(url__startswith=f"{SF_API}/sobjects/Task/Hitl_Key__c/", name="task"
                          ).mock(side_effect=self._upsert)
        self.router.patch(f"{SF_API}/sobjects/Lead/{SF_LEAD_ID}", name="lead").mock(
            side_effect=self._lead)
        return self

    def _query(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params["q"]
        found: list[dict[str, Any]] = []
        if q.startswith("SELECT Id FROM Lead") and "priya.shah@brightlane.io" in q:
            found = [{"attributes": {"type": "Lead"}, "Id": SF_LEAD_ID}]
        elif q.startswith("SELECT Id FROM User"):
            found = [{"attributes": {"type": "User"}, "Id": SF_USER_ID}]
        return httpx.Response(200, json={"totalSize": len(found), "done": True,
                                         "records": found})

    def _upsert(self, request: httpx.Request) -> httpx.Response:
        from urllib.parse import unquote

        key = unquote(request.url.raw_path.decode().rsplit("/", 1)[1])
        self.task_calls.append(key)
        if key in self.tasks:  # Salesforce: an upsert of an existing external id updates it
            self.tasks[key].update(json.loads(request.content))
            return httpx.Response(204)
        self.tasks[key] = json.loads(request.content)
        return httpx.Response(201, json={"id": f"00T5g0000{len(self.tasks):09d}",
                                         "success": True, "errors": [], "created": True})

    def _lead(self, request: httpx.Request) -> httpx.Response:
        fields = json.loads(request.content)
        self.lead_patches.append(fields)
        self.lead_status = fields.get("Status", self.lead_status)
        return httpx.Response(204)
