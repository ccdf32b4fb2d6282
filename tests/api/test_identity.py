"""Who did this is true (contract section 6, "Identity"): a personal token acts as its roster
member and nobody else; the service token must name an actor and is recorded as such."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.api.identity_fixtures import (
    SERVICE,
    audit_rows,
    bearer,
    decisions,
    tokens_fixture,  # noqa: F401 (the `tokens` fixture)
)
from tests.asgi_probe import call
from tests.flow import pending_card

MIB = 1 << 20


def _decide(client: Any, approval_id: str, auth: dict[str, str], **body: Any) -> Any:
    return client.post(f"/v1/approvals/{approval_id}/decision", json=body, headers=auth)


def test_a_personal_token_decides_as_its_member(client, worker, rt, tokens) -> None:
    card = pending_card(client, worker)
    assert card["assignee"] == "U0REP0001"  # Riley
    answer = _decide(client, card["approval_id"], bearer(tokens["riley"]), action="approve")
    assert answer.status_code == 200, answer.text
    assert answer.json()["decided_by"] == "U0REP0001"
    assert answer.json()["decision"]["actor"] == "U0REP0001"
    assert answer.json()["decision"]["via"] == "personal_token"
    [(actor, action, detail)] = audit_rows(rt)
    assert (actor, action, detail["via"]) == ("U0REP0001", "decision_approve", "personal_token")
    assert detail["token_id"].startswith("tok")


def test_naming_yourself_as_actor_is_fine(client, worker, tokens) -> None:
    card = pending_card(client, worker)
    answer = _decide(client, card["approval_id"], bearer(tokens["riley"]), action="reject",
                     actor="RILEY@example.com", reason_code="not_now")
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"]["actor"] == "U0REP0001"


def test_spoofing_another_members_actor_is_refused_and_nothing_recorded(
        client, worker, rt, tokens) -> None:
    card = pending_card(client, worker)
    # Sam tries to approve as Riley (by Slack id, then by email), and as the manager.
    for actor in ("U0REP0001", "riley@example.com", "morgan@example.com"):
        answer = _decide(client, card["approval_id"], bearer(tokens["sam"]), action="approve",
                         actor=actor)
        assert answer.status_code == 403, answer.text
        assert "belongs to Sam Seller" in answer.json()["detail"]
    # As himself he is not the assignee either.
    assert _decide(client, card["approval_id"], bearer(tokens["sam"]),
                   action="approve").status_code == 403
    assert decisions(rt) == [] and audit_rows(rt) == []
    assert client.get(f"/v1/approvals/{card['approval_id']}").json()["status"] == "pending"


def test_a_manager_token_may_decide_anothers_approval(client, worker, rt, tokens) -> None:
    card = pending_card(client, worker)
    answer = _decide(client, card["approval_id"], bearer(tokens["morgan"]), action="reject",
                     reason_code="not_icp", note="not our market")
    assert answer.status_code == 200, answer.text
    [(actor, action, _)] = audit_rows(rt)
    assert (actor, action) == ("U0MGR0001", "decision_reject")


def test_the_service_token_must_name_an_actor(client, worker, rt) -> None:
    card = pending_card(client, worker)
    missing = _decide(client, card["approval_id"], SERVICE, action="approve")
    assert missing.status_code == 422, missing.text
    assert "actor is required with the service token" in missing.text
    assert decisions(rt) == [] and audit_rows(rt) == []

    stranger = _decide(client, card["approval_id"], SERVICE, action="approve",
                       actor="mallory@example.com")
    assert stranger.status_code == 403 and decisions(rt) == []

    answer = _decide(client, card["approval_id"], SERVICE, action="approve",
                     actor="riley@example.com")
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"]["via"] == "service_token"
    [(actor, action, detail)] = audit_rows(rt)
    assert (actor, action, detail["via"]) == ("U0REP0001", "decision_approve", "service_token")
    [(_, _, payload)] = decisions(rt)
    assert payload["via"] == "service_token"


def test_a_revoked_token_gets_401_at_once(client, worker, rt, tokens) -> None:
    from service import personal_tokens

    card = pending_card(client, worker)
    riley = bearer(tokens["riley"])
    assert client.get("/v1/approvals", headers=riley).status_code == 200
    # Warm the edge's cache with the token (a request with a body passes the edge).
    assert _decide(client, "ap_none", riley, action="approve").status_code == 404
    [row] = [t for t in personal_tokens.list_tokens(rt) if t["member"] == "U0REP0001"]
    assert row["last_used_at"] is not None
    personal_tokens.revoke(rt, row["token_id"])

    assert client.get("/v1/approvals", headers=riley).status_code == 401
    refused = _decide(client, card["approval_id"], riley, action="approve")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert decisions(rt) == []


def test_a_member_removed_from_the_roster_loses_their_tokens(client, worker, rt, tokens
                                                            ) -> None:
    from agent.policy import Roster

    card = pending_card(client, worker)
    riley = bearer(tokens["riley"])
    assert client.get("/v1/approvals", headers=riley).status_code == 200
    rt.roster = Roster(members=[m for m in rt.roster.members
                                if m.email != "riley@example.com"])
    assert client.get("/v1/approvals", headers=riley).status_code == 401
    assert _decide(client, card["approval_id"], riley, action="approve").status_code == 401
    assert client.get("/v1/approvals", headers=bearer(tokens["sam"])).status_code == 200
    assert decisions(rt) == []


def test_the_edge_refuses_an_unknown_personal_token_before_reading_the_body(
        client, rt, tokens) -> None:
    body = [b"x" * 1024] * 4
    for token in ("hitl_pt_" + "A" * 43, tokens["riley"][:-1] + "?", tokens["riley"] + "x"):
        answer = call(client.app, "POST", "/v1/approvals/ap_x/decision", chunks=body,
                      headers={**bearer(token), "Content-Type": "application/json",
                               "Content-Length": str(50 * MIB)})
        assert (answer.status, answer.chunks_read) == (401, 0), token
    # A real one is let through to its route (which reads the body: 413 for this size).
    good = call(client.app, "POST", "/v1/approvals/ap_x/decision", chunks=body,
                headers={**bearer(tokens["riley"]), "Content-Type": "application/json",
                         "Content-Length": str(50 * MIB)})
    assert good.status == 413


def test_a_token_is_stored_only_as_its_hash(rt, tokens) -> None:
    import hashlib

    from store.tables import PersonalToken

    with rt.db.read() as session:
        rows = session.scalars(select(PersonalToken)).all()
        stored = {r.token_hash for r in rows}
        texts = " ".join(f"{r.id} {r.name} {r.member_key} {r.token_hash}" for r in rows)
    for token in tokens.values():
        assert token.startswith("hitl_pt_") and len(token) >= 40
        assert token not in texts
        assert hashlib.sha256(token.encode()).hexdigest() in stored


def test_an_erasure_records_the_person_who_asked(client, rt, tokens) -> None:
    lead = client.post("/v1/events", json={"event_id": "x-1", "type": "page_view",
                                           "occurred_at": "2026-11-18T14:00:00Z",
                                           "lead": {"email": "zed@acme.io"},
                                           "properties": {"url": "https://v.example/"}})
    assert lead.status_code == 202, lead.text
    lead_id = lead.json()["leads"][0]["lead_id"]
    answer = client.delete(f"/v1/leads/{lead_id}", headers=bearer(tokens["morgan"]))
    assert answer.status_code == 200, answer.text
    [(actor, _, _)] = audit_rows(rt, "lead_erased")
    assert actor == "U0MGR0001"
