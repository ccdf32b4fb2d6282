"""Reads people need outside Slack: a lead by email, and an approval's decision history
(every version of the handoff: who decided what, reasons, notes, instructions)."""

from __future__ import annotations

from typing import Any

from tests.api.identity_fixtures import (
    SERVICE,
    bearer,
    tokens_fixture,  # noqa: F401 (the `tokens` fixture)
)
from tests.conftest import LEAD_ADA, T0, event
from tests.flow import ingest, pending_card


def _decide(client: Any, approval_id: str, auth: dict[str, str], **body: Any) -> Any:
    answer = client.post(f"/v1/approvals/{approval_id}/decision", json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_find_a_lead_by_email_in_any_case(client: Any, tokens: Any) -> None:
    ingest(client, [event("a-1", "page_view", at=T0, url="https://vendor.example/")])
    other = {**LEAD_ADA, "email": "bo@other.io"}
    ingest(client, [event("b-1", "page_view", at=T0, lead=other, url="https://v.example/")])

    for query in ("ada@acme.io", "ADA@ACME.IO", " Ada@Acme.io "):
        answer = client.get("/v1/leads", params={"email": query},
                            headers=bearer(tokens["sam"]))
        assert answer.status_code == 200, answer.text
        [lead] = answer.json()
        assert lead["email"] == "ada@acme.io" and lead["company"] == "Acme"
        assert lead == client.get(f"/v1/leads/{lead['lead_id']}").json()

    assert client.get("/v1/leads", params={"email": "nobody@acme.io"}).json() == []
    missing = client.get("/v1/leads")
    assert missing.status_code == 422 and "email" in missing.text
    assert client.get("/v1/leads", params={"email": "ada@acme.io"},
                      headers=bearer("hitl_pt_nope")).status_code == 401


def test_an_erased_lead_is_not_found_by_email(client: Any) -> None:
    body = ingest(client, [event("a-1", "page_view", at=T0, url="https://vendor.example/")])
    lead_id = body["leads"][0]["lead_id"]
    assert client.delete(f"/v1/leads/{lead_id}").status_code == 200
    assert client.get("/v1/leads", params={"email": "ada@acme.io"}).json() == []


def test_an_approval_carries_its_handoffs_decision_history(client: Any, worker: Any,
                                                           tokens: Any) -> None:
    v1 = pending_card(client, worker)
    _decide(client, v1["approval_id"], bearer(tokens["riley"]), action="revise",
            instruction="shorter, mention the webinar", note="too long")
    worker.run_until_idle()
    [v2] = client.get("/v1/approvals").json()
    _decide(client, v2["approval_id"], SERVICE, action="escalate", actor="riley@example.com",
            note="big account, please look")
    worker.run_until_idle()
    [v3] = client.get("/v1/approvals").json()
    assert v3["version"] == 3 and v3["assignee"] == "U0MGR0001"

    detail = client.get(f"/v1/approvals/{v3['approval_id']}", headers=bearer(tokens["sam"]))
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["approval_id"] == v3["approval_id"] and body["status"] == "pending"
    assert body["decision"] is None and body["draft"]["subject"]  # existing fields kept
    history = body["history"]
    assert [h["version"] for h in history] == [1, 2, 3]
    assert [h["approval_id"] for h in history] == [v1["approval_id"], v2["approval_id"],
                                                   v3["approval_id"]]
    first, second, third = (h["decision"] for h in history)
    assert (first["action"], first["actor"], first["via"]) == ("revise", "U0REP0001",
                                                              "personal_token")
    assert first["instruction"] == "shorter, mention the webinar"
    assert first["note"] == "too long"
    assert (second["action"], second["actor"], second["via"]) == ("escalate", "U0REP0001",
                                                                 "service_token")
    assert second["note"] == "big account, please look"
    assert second["escalate_to"] == "U0MGR0001"
    assert third is None and history[2]["status"] == "pending"

    _decide(client, v3["approval_id"], bearer(tokens["morgan"]), action="reject",
            reason_code="not_icp")
    last = client.get(f"/v1/approvals/{v1['approval_id']}").json()["history"][2]["decision"]
    assert (last["action"], last["actor"], last["reason_code"]) == ("reject", "U0MGR0001",
                                                                    "not_icp")
    # The list keeps its shape (no history there).
    assert "history" not in client.get("/v1/approvals", params={"status": "rejected"}
                                       ).json()[0]
