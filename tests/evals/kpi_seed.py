"""A store seeded by the real flow for the KPI report tests (SQLite in test_reports_kpi.py,
PostgreSQL in test_reports_postgres.py): the REST API, the worker, the SMTP sink, and a rep who
approves, edits, rejects, escalates and revises."""

from __future__ import annotations

from typing import Any

from tests.conftest import event, hand_raise
from tests.flow import decide, ingest

# (what the rep does, minutes after the card). Hand-raise SLA is 15 minutes.
PLAN = [("approve", 2), ("edit", 5), ("reject:not_now", 30), ("escalate", 3),
        ("approve", 1 / 6), ("reject:meeting_set", 20), ("revise", 1)]


def lead(i: int) -> dict[str, Any]:
    return {"email": f"kpi{i}@company{i}.com", "first_name": f"Robin{i}", "last_name": "Quest",
            "company": f"Company{i}", "title": "VP Operations", "domain": f"company{i}.com",
            "country": "US", "employees": 800, "industry": "Software"}


def pending_for(client: Any, email: str) -> dict[str, Any]:
    cards = [c for c in client.get("/v1/approvals", params={"status": "pending"}).json()
             if c["draft"]["to"] == email]
    assert len(cards) == 1, cards
    return cards[0]


def seed_store(client: Any, worker: Any, clock: Any) -> dict[str, Any]:
    """Drive the real flow through the API; returns what a test needs to know."""
    seeded: dict[str, Any] = {"leads": {}}
    for i, (action, minutes) in enumerate(PLAN):
        ingest(client, hand_raise(prefix=f"k{i}", lead=lead(i), at=clock.now()))
        worker.run_until_idle()
        card = pending_for(client, lead(i)["email"])
        seeded["leads"][i] = card["lead_id"]
        clock.advance(minutes=minutes)
        actor = card["assignee"]
        kind, _, reason = action.partition(":")
        if kind == "edit":
            seeded["edit_rep"], seeded["edited_draft"] = actor, card["draft"]["body"]
            body = card["draft"]["body"].replace("Best,", "Thanks so much,")
            response = decide(client, card["approval_id"], action="edit", actor=actor,
                              subject=f"Your demo, {lead(i)['first_name']}", body=body)
        elif kind == "reject":
            response = decide(client, card["approval_id"], action="reject", actor=actor,
                              reason_code=reason)
        elif kind in ("escalate", "revise"):
            extra = {"instruction": "shorter"} if kind == "revise" else {}
            response = decide(client, card["approval_id"], action=kind, actor=actor, **extra)
            assert response.status_code == 200, response.text
            worker.run_until_idle()
            again = pending_for(client, lead(i)["email"])
            clock.advance(minutes=2)
            response = decide(client, again["approval_id"], action="approve",
                              actor=again["assignee"])
        else:
            response = decide(client, card["approval_id"], action="approve", actor=actor)
        assert response.status_code == 200, response.text
        worker.run_until_idle()
        clock.advance(days=2)
    # The "not now" lead comes back with a new demo request (the disposition lets it override
    # the suppression): return to intent, and a new, still pending handoff.
    ingest(client, [event("k2-back", "form_submit", at=clock.now(), lead=lead(2), form="demo")])
    # The first lead books a meeting after our email (stored; no worker run, so no handoff yet).
    ingest(client, [event("k0-meet", "meeting_booked", at=clock.now(), lead=lead(0))])
    worker.run_until_idle()
    return seeded
