"""The SLA follows the card whoever holds it: a timer due while the next card is being drafted
waits for it, an escalation gives its new holder a window of their own and the rescue never
hands the lead back to someone who held it, and a lead disqualified while its card waited is
closed rather than given to someone else. Injected clock, no sleeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service.worker import HANDLERS, Worker
from tests.conftest import LEAD_ADA, T0, event
from tests.flow import decide, ingest, pending_card
from tests.service.audit_log import audits


def _pending(client: Any) -> list[tuple[int, str]]:
    cards = client.get("/v1/approvals", params={"status": "pending"}).json()
    return [(c["version"], c["assignee"]) for c in cards]


def test_a_timer_due_while_a_revise_is_drafted_waits_for_the_new_card(client, worker, rt,
                                                                       clock) -> None:
    card = pending_card(client, worker)
    clock.advance(minutes=14)
    assert decide(client, card["approval_id"], action="revise", actor="U0REP0001",
                  instruction="shorter please").status_code == 200
    clock.advance(minutes=2)  # due; the timer runs before the redraft does (another replica)
    sla_only = Worker(rt, threads=1, handlers={"sla_check": HANDLERS["sla_check"]})
    try:
        sla_only.run_until_idle()
    finally:
        sla_only.stop()
    worker.run_until_idle()  # the redraft, then the timer again
    clock.advance(minutes=1)
    worker.run_until_idle()
    assert _pending(client) == [(2, "U0REP0001")]
    [reminder] = audits(rt, "sla_reminder")
    assert reminder.subject_id.endswith("_v2")


def test_an_escalated_card_is_the_managers_with_a_window_of_their_own(client, worker, rt,
                                                                      clock) -> None:
    card = pending_card(client, worker)
    sla = rt.policy.sla["hand_raise"].minutes
    clock.advance(minutes=sla + 1)
    worker.run_until_idle()  # the rep is reminded
    clock.advance(minutes=4)
    assert decide(client, card["approval_id"], action="escalate", actor="U0REP0001",
                  note="need a manager on this").status_code == 200
    worker.run_until_idle()
    assert _pending(client) == [(2, "U0MGR0001")]
    clock.advance(minutes=sla - 1)  # the rep's old second-breach time has passed
    worker.run_until_idle()
    assert audits(rt, "sla_escalated") == [] and _pending(client) == [(2, "U0MGR0001")]

    for _ in range(3):  # the manager lets it lapse twice: it goes to someone new
        clock.advance(minutes=sla + 1)
        worker.run_until_idle()
    [rescue] = audits(rt, "sla_escalated")
    assert rescue.detail["previous_owner"] == "U0MGR0001"
    assert rescue.detail["new_owner"] not in ("U0MGR0001", "U0REP0001")
    assert _pending(client) == [(3, rescue.detail["new_owner"])]


def test_a_lead_disqualified_while_its_card_waited_is_closed_not_reassigned(
        client, worker, rt, clock) -> None:
    card = pending_card(client, worker)
    clock.advance(minutes=3)
    intern = dict(LEAD_ADA, title="Marketing Intern")
    ingest(client, [event("dq-1", "page_view", at=T0 + timedelta(minutes=2), lead=intern,
                          url="https://vendor.example/blog")])
    worker.run_until_idle()
    for _ in range(3):
        clock.advance(minutes=15)
        worker.run_until_idle()
    assert audits(rt, "sla_escalated") == [] and _pending(client) == []
    [closed] = audits(rt, "sla_closed_disqualified")
    assert closed.subject_id == card["approval_id"] and closed.detail["disqualifiers"]
    approval = client.get(f"/v1/approvals/{card['approval_id']}").json()
    assert approval["status"] == "rejected"
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    assert lead["handoff"] is None and lead["owner"] is None


def test_the_rescue_weighs_the_reps_open_cards_like_any_assignment(client, worker, rt,
                                                                   clock) -> None:
    """Riley's card lapses twice while Max, the other US mid-market rep, holds another lead's
    card and is at the policy's cap: the rescue passes him over, as a new assignment would."""
    from tests.conftest import hand_raise

    routing = rt.policy.routing.model_copy(update={"max_open_approvals_per_rep": 1})
    rt.policy = rt.policy.model_copy(update={"routing": routing})
    card = pending_card(client, worker)
    assert card["assignee"] == "U0REP0001"
    clock.advance(minutes=10)
    other = dict(LEAD_ADA, email="bo@acme.io", first_name="Bo")
    ingest(client, hand_raise("b", lead=other, at=clock.now()))
    worker.run_until_idle()
    assert sorted(_pending(client)) == [(1, "U0REP0001"), (1, "U0REP0004")]
    for _ in range(4):  # to T0+30: Riley's second breach; Max's card is reminded only
        clock.advance(minutes=5)
        worker.run_until_idle()
    [rescue] = audits(rt, "sla_escalated")
    assert rescue.detail["previous_owner"] == "U0REP0001"
    assert rescue.detail["new_owner"] not in ("U0REP0001", "U0REP0004")
