"""Write-back to a respx Salesforce through the whole product: the owner task and the logged
email upserted by their external ids, the Lead Status from the mapping after a reject."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from tests.conftest import make_settings
from tests.flow import decide, pending_card

SF = "https://acme.my.salesforce.test"
API = f"{SF}/services/data/v60.0"


@pytest.fixture
def settings(tmp_path, smtp_sink, database_url):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         salesforce_instance_url=SF, salesforce_access_token="sf-token")


def _soql(request: httpx.Request) -> httpx.Response:
    q = request.url.params["q"]
    if q.startswith("SELECT Id FROM Lead"):
        return httpx.Response(200, json={"totalSize": 1, "done": True,
                                         "records": [{"Id": "00Q000000000001"}]})
    if q.startswith("SELECT Id FROM User"):
        return httpx.Response(200, json={"totalSize": 1, "done": True,
                                         "records": [{"Id": "005000000000009"}]})
    return httpx.Response(200, json={"totalSize": 0, "done": True, "records": []})


@pytest.fixture
def salesforce() -> Any:
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{API}/query").mock(side_effect=_soql)
        router.patch(url__startswith=f"{API}/sobjects/Task/Hitl_Key__c/", name="task").respond(
            201, json={"id": "00T000000000001", "success": True, "errors": []})
        router.patch(f"{API}/sobjects/Lead/00Q000000000001", name="lead").respond(204)
        yield router


def test_tasks_upserted_by_key_and_the_status_from_the_mapping(client, worker, rt,
                                                               salesforce) -> None:
    card = pending_card(client, worker)
    handoff, version = card["handoff_id"], card["version"]
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    by_key = {call.request.url.path.rsplit("/", 1)[1]: json.loads(call.request.content)
              for call in salesforce["task"].calls}
    assert set(by_key) == {f"crm:salesforce:task:{handoff}:v{version}",
                           f"crm:salesforce:email:{handoff}:v{version}"}
    task = by_key[f"crm:salesforce:task:{handoff}:v{version}"]
    assert task["WhoId"] == "00Q000000000001" and task["OwnerId"] == "005000000000009"
    assert task["Status"] == "Not Started" and card["context"]["why_now"] in task["Description"]
    assert task["ActivityDate"] == card["sla_due_at"][:10]
    email = by_key[f"crm:salesforce:email:{handoff}:v{version}"]
    assert email["Type"] == "Email" and email["Status"] == "Completed"
    assert [json.loads(c.request.content) for c in salesforce["lead"].calls] == [
        {"Status": "Open - Not Contacted"}, {"Status": "Working - Contacted"}]
    assert salesforce["task"].calls.last.request.headers["Authorization"] == "Bearer sf-token"
    assert all(b"/Hitl_Key__c/crm%3Asalesforce%3A" in c.request.url.raw_path
               for c in salesforce["task"].calls)  # the key travels percent-encoded
