"""The HubSpot and Salesforce write-back clients against respx fakes of their APIs: the request
bodies the vendors document, the idempotency each one offers, and failures sorted into
transient (outage, rate limit with Retry-After) and not."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
import respx

from tools.crm.hubspot_writer import HubSpotWriter
from tools.crm.salesforce_writer import SalesforceWriter
from tools.crm.writer import CrmError, LoggedEmail, OwnerTask, RecordingCrmWriter

HS = "https://hubspot.test"
SF = "https://acme.my.salesforce.test"
SF_API = f"{SF}/services/data/v60.0"
DUE = datetime(2026, 11, 18, 16, 0, tzinfo=UTC)
TASK = OwnerTask(contact_email="ana@acme.example", owner_email="rep@vendor.example",
                 subject="Follow up now: Ana (Acme)", body="Why now: asked for a demo",
                 due_at=DUE)
EMAIL = LoggedEmail(contact_email="ana@acme.example", owner_email="rep@vendor.example",
                    from_email="rep@vendor.example", subject="Your demo", body="Hi Ana",
                    sent_at=DUE, message_id="<out_1@vendor.example>")


def _body(call: respx.models.Call) -> dict:
    return json.loads(call.request.content)


@pytest.fixture
def hubspot() -> HubSpotWriter:
    return HubSpotWriter(HS, "hs-token", client=httpx.Client())


@pytest.fixture
def salesforce() -> SalesforceWriter:
    return SalesforceWriter(SF, "sf-token", client=httpx.Client())


# -- HubSpot ----------------------------------------------------------------------------------

@respx.mock
def test_hubspot_task_is_created_for_the_owner_on_the_contact_with_the_key(hubspot) -> None:
    respx.get(f"{HS}/crm/v3/owners").respond(json={"results": [{"id": "77"}]})
    search = respx.post(f"{HS}/crm/v3/objects/tasks/search").respond(json={"results": []})
    respx.get(f"{HS}/crm/v3/objects/contacts/ana@acme.example").respond(json={"id": "501"})
    create = respx.post(f"{HS}/crm/v3/objects/tasks").respond(201, json={"id": "9001"})

    assert hubspot.create_owner_task(TASK, idempotency_key="crm:hubspot:task:ho_1:v1") == "9001"

    filters = _body(search.calls.last)["filterGroups"][0]["filters"][0]
    assert filters == {"propertyName": "hitl_idempotency_key", "operator": "EQ",
                       "value": "crm:hubspot:task:ho_1:v1"}
    sent = _body(create.calls.last)
    assert sent["properties"] == {
        "hs_task_subject": "Follow up now: Ana (Acme)", "hs_task_body": "Why now: asked for a demo",
        "hs_task_status": "NOT_STARTED", "hs_task_priority": "HIGH", "hs_task_type": "TODO",
        "hs_timestamp": str(int(DUE.timestamp() * 1000)), "hubspot_owner_id": "77",
        "hitl_idempotency_key": "crm:hubspot:task:ho_1:v1"}
    assert sent["associations"] == [{"to": {"id": "501"}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]
    assert create.calls.last.request.headers["Authorization"] == "Bearer hs-token"
    lookup = respx.calls[2].request
    assert lookup.url.params["idProperty"] == "email"


@respx.mock
def test_hubspot_task_already_there_is_not_created_again(hubspot) -> None:
    respx.get(f"{HS}/crm/v3/owners").respond(json={"results": []})
    respx.post(f"{HS}/crm/v3/objects/tasks/search").respond(
        json={"results": [{"id": "9001"}]})
    create = respx.post(f"{HS}/crm/v3/objects/tasks").respond(201, json={"id": "9002"})

    assert hubspot.create_owner_task(TASK, idempotency_key="k") == "9001"
    assert not create.called


@respx.mock
def test_hubspot_lead_status_patches_the_contact_by_email(hubspot) -> None:
    respx.get(f"{HS}/crm/v3/objects/contacts/ana@acme.example").respond(
        json={"id": "501", "properties": {"lifecyclestage": "lead"}})
    patch = respx.patch(f"{HS}/crm/v3/objects/contacts/ana@acme.example").respond(
        json={"id": "501"})
    fields = {"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "CONNECTED"}
    assert hubspot.set_lead_status("ana@acme.example", fields, idempotency_key="k") == "501"
    assert _body(patch.calls.last) == {"properties": fields}
    assert patch.calls.last.request.url.params["idProperty"] == "email"


@respx.mock
def test_hubspot_never_moves_a_lifecycle_stage_backwards(hubspot) -> None:
    respx.get(f"{HS}/crm/v3/objects/contacts/ana@acme.example").respond(
        json={"id": "501", "properties": {"lifecyclestage": "customer"}})
    patch = respx.patch(f"{HS}/crm/v3/objects/contacts/ana@acme.example").respond(
        json={"id": "501"})
    hubspot.set_lead_status("ana@acme.example", {"lifecyclestage": "salesqualifiedlead",
                                                 "hs_lead_status": "OPEN"}, idempotency_key="k")
    assert _body(patch.calls.last) == {"properties": {"hs_lead_status": "OPEN"}}
    assert hubspot.set_lead_status("ana@acme.example", {"lifecyclestage": "lead"},
                                   idempotency_key="k") == "501"
    assert patch.call_count == 1  # nothing left to write: no PATCH


@respx.mock
def test_hubspot_email_is_logged_outgoing_on_the_contact(hubspot) -> None:
    respx.get(f"{HS}/crm/v3/owners").respond(json={"results": [{"id": "77"}]})
    respx.post(f"{HS}/crm/v3/objects/emails/search").respond(json={"results": []})
    respx.get(f"{HS}/crm/v3/objects/contacts/ana@acme.example").respond(json={"id": "501"})
    create = respx.post(f"{HS}/crm/v3/objects/emails").respond(201, json={"id": "e1"})

    hubspot.log_email(EMAIL, idempotency_key="crm:hubspot:email:ho_1:v1")
    sent = _body(create.calls.last)
    props = sent["properties"]
    assert props["hs_email_direction"] == "EMAIL" and props["hs_email_status"] == "SENT"
    assert props["hs_email_subject"] == "Your demo" and props["hs_email_text"] == "Hi Ana"
    assert json.loads(props["hs_email_headers"])["to"] == [{"email": "ana@acme.example"}]
    assert props["hitl_idempotency_key"] == "crm:hubspot:email:ho_1:v1"
    assert sent["associations"][0]["types"][0]["associationTypeId"] == 198


@respx.mock
def test_hubspot_rate_limit_is_transient_with_its_retry_after(hubspot) -> None:
    respx.patch(f"{HS}/crm/v3/objects/contacts/ana@acme.example").respond(
        429, headers={"Retry-After": "7"}, json={"category": "RATE_LIMITS"})
    with pytest.raises(CrmError) as caught:
        hubspot.set_lead_status("ana@acme.example", {"hs_lead_status": "OPEN"},
                                idempotency_key="k")
    assert caught.value.transient and caught.value.retry_after == 7.0


@respx.mock
def test_hubspot_outage_and_refusals_are_told_apart(hubspot) -> None:
    route = respx.patch(f"{HS}/crm/v3/objects/contacts/ana@acme.example")
    route.respond(503)
    with pytest.raises(CrmError) as outage:
        hubspot.set_lead_status("ana@acme.example", {"hs_lead_status": "OPEN"},
                                idempotency_key="k")
    assert outage.value.transient and outage.value.retry_after is None
    route.respond(400, json={"category": "VALIDATION_ERROR", "message": "bad lead status"})
    with pytest.raises(CrmError) as refused:
        hubspot.set_lead_status("ana@acme.example", {"hs_lead_status": "NOPE"},
                                idempotency_key="k")
    assert not refused.value.transient and "bad lead status" in str(refused.value)
    route.respond(404, json={"category": "OBJECT_NOT_FOUND"})
    with pytest.raises(CrmError, match="no HubSpot contact"):
        hubspot.set_lead_status("ana@acme.example", {"hs_lead_status": "OPEN"},
                                idempotency_key="k")
    route.side_effect = httpx.ConnectError("refused")
    with pytest.raises(CrmError) as down:
        hubspot.set_lead_status("ana@acme.example", {"hs_lead_status": "OPEN"},
                                idempotency_key="k")
    assert down.value.transient


# -- Salesforce -------------------------------------------------------------------------------

def _soql(request: httpx.Request) -> httpx.Response:
    q = request.url.params["q"]
    if q.startswith("SELECT Id FROM Lead"):
        return httpx.Response(200, json={"records": [{"Id": "00Q1"}]})
    if q.startswith("SELECT Id FROM User"):
        return httpx.Response(200, json={"records": [{"Id": "0051"}]})
    return httpx.Response(200, json={"records": []})


@respx.mock
def test_salesforce_task_is_an_upsert_by_external_id(salesforce) -> None:
    query = respx.get(f"{SF_API}/query").mock(side_effect=_soql)
    upsert = respx.patch(f"{SF_API}/sobjects/Task/Hitl_Key__c/crm%3Asalesforce%3Atask%3Aho_1%3Av1"
                         ).respond(201, json={"id": "00T1", "success": True, "errors": []})

    assert salesforce.create_owner_task(
        TASK, idempotency_key="crm:salesforce:task:ho_1:v1") == "00T1"
    assert _body(upsert.calls.last) == {
        "WhoId": "00Q1", "Subject": "Follow up now: Ana (Acme)",
        "Description": "Why now: asked for a demo", "Status": "Not Started",
        "Priority": "High", "ActivityDate": "2026-11-18", "OwnerId": "0051"}
    soql = query.calls[0].request.url.params["q"]
    assert "Email = 'ana@acme.example'" in soql and "IsConverted = false" in soql


@respx.mock
def test_salesforce_lead_status_and_logged_email(salesforce) -> None:
    respx.get(f"{SF_API}/query").mock(side_effect=_soql)
    lead = respx.patch(f"{SF_API}/sobjects/Lead/00Q1").respond(204)
    email = respx.patch(url__startswith=f"{SF_API}/sobjects/Task/Hitl_Key__c/").respond(
        200, json={"id": "00T2", "success": True, "errors": [], "created": False})

    assert salesforce.set_lead_status("ana@acme.example", {"Status": "Working - Contacted"},
                                      idempotency_key="k") == "00Q1"
    assert _body(lead.calls.last) == {"Status": "Working - Contacted"}
    assert salesforce.log_email(EMAIL, idempotency_key="crm:salesforce:email:ho_1:v1") == "00T2"
    logged = _body(email.calls.last)
    assert logged["Type"] == "Email" and logged["Status"] == "Completed"
    assert logged["Subject"] == "Email: Your demo" and logged["WhoId"] == "00Q1"


@respx.mock
def test_salesforce_quota_spent_is_transient_and_quotes_are_escaped(salesforce) -> None:
    query = respx.get(f"{SF_API}/query").respond(
        403, json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit"}])
    with pytest.raises(CrmError) as caught:
        salesforce.set_lead_status("o'brien@acme.example", {"Status": "x"}, idempotency_key="k")
    assert caught.value.transient
    assert "Email = 'o\\'brien@acme.example'" in query.calls.last.request.url.params["q"]


def test_the_recording_double_writes_once_per_key() -> None:
    double = RecordingCrmWriter()
    first = double.create_owner_task(TASK, idempotency_key="k")
    assert double.create_owner_task(TASK, idempotency_key="k") == first
    assert [c["kind"] for c in double.calls] == ["task"]


def test_configured_crms_follow_the_settings_and_the_mapping(tmp_path) -> None:
    from pathlib import Path

    from tests.conftest import make_settings
    from tools.crm.configured import writers_from_settings
    from tools.crm.mapping import load_crm_mapping

    assert writers_from_settings(make_settings(tmp_path)) == []
    text = Path("config/defaults/crm.toml").read_text()
    custom = tmp_path / "crm.toml"
    custom.write_text(text.replace('writeback_key_property = "hitl_idempotency_key"',
                                   'writeback_key_property = "acme_sync_key"')
                      .replace('writeback_external_id_field = "Hitl_Key__c"',
                               'writeback_external_id_field = "Acme_Key__c"'))
    both = writers_from_settings(
        make_settings(tmp_path, hubspot_access_token="hs", salesforce_access_token="sf",
                      salesforce_instance_url=SF), load_crm_mapping(custom))
    assert [w.name for w in both] == ["hubspot", "salesforce"]
    hubspot, salesforce = both
    assert isinstance(hubspot, HubSpotWriter) and isinstance(salesforce, SalesforceWriter)
    assert hubspot.idempotency_property == "acme_sync_key"
    assert salesforce.external_id_field == "Acme_Key__c"
    assert salesforce.base_url == f"{SF}/services/data/v60.0"


@respx.mock
def test_a_redirect_is_a_write_that_did_not_happen_not_a_success(hubspot, salesforce) -> None:
    # A renamed Salesforce instance (or an http:// base URL) answers a write with a redirect;
    # it is not followed, so nothing was written, and "done" must not be recorded for it.
    respx.get(f"{SF_API}/query").mock(side_effect=_soql)
    respx.patch(url__startswith=f"{SF_API}/sobjects/Lead/").respond(
        301, headers={"Location": "https://acme-new.my.salesforce.test/services/data/v60.0/"})
    with pytest.raises(CrmError) as moved:
        salesforce.set_lead_status("ana@acme.example", {"Status": "Working"},
                                   idempotency_key="k")
    assert not moved.value.transient
    assert "redirected it (301) to acme-new.my.salesforce.test" in str(moved.value)
    respx.patch(url__startswith=f"{SF_API}/sobjects/Task/").respond(307)
    with pytest.raises(CrmError, match=r"redirected it \(307\) to nowhere"):
        salesforce.create_owner_task(TASK, idempotency_key="crm:salesforce:task:ho_1:v1")
    respx.patch(f"{HS}/crm/v3/objects/contacts/ana@acme.example").respond(
        308, headers={"Location": "https://api-eu1.hubapi.test/"})
    with pytest.raises(CrmError, match="hubspot redirected it"):
        hubspot.set_lead_status("ana@acme.example", {"hs_lead_status": "OPEN"},
                                idempotency_key="k")
