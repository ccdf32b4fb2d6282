"""Every change the assistant proposes waits for the rep's click (a HITLRequest interrupt), runs
exactly once after approve, never after reject, and only for the member it was proposed to."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from langgraph.types import Command
from sqlalchemy import select

from service.assistant import ask, decide_proposal, feedback_summary, record_feedback
from service.errors import Conflict, InvalidInput, NotFound
from store.tables import Approval, AssistantProposal, AssistantReply, Handoff, Lead


def _cards(rt: Any, lead_id: str) -> list[tuple[int, str, str]]:
    with rt.db.read() as session:
        return [(a.version, a.status, a.assignee) for a in session.scalars(
            select(Approval).where(Approval.lead_id == lead_id).order_by(Approval.created_at,
                                                                         Approval.version))]


def _lead(rt: Any, lead_id: str) -> Lead:
    with rt.db.read() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        session.expunge(lead)
        return lead


def _thread(member: Any, key: str, proposal_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": f"assistant:{member.key}:{key}:{proposal_id}"}}


def test_a_follow_up_becomes_a_card_only_after_approval_and_once(rt, seeded, riley,
                                                                  worker) -> None:
    lead_id = seeded["ada_park"]
    reply = ask(rt, riley, "D1:1", "draft a follow-up to Ada Park mentioning the webinar")
    [proposal] = reply.proposals
    assert proposal.allowed_decisions == ["approve", "reject"]
    worker.run_until_idle()
    assert _cards(rt, lead_id) == [(1, "pending", "U0REP0001")]  # nothing happened yet

    # The proposal waits at LangChain v1's HITLRequest interrupt, in its own thread.
    state = rt.assistant_graph.get_state(_thread(riley, "D1:1", proposal.proposal_id))
    [pause] = state.interrupts
    assert pause.value == {
        "action_requests": [{"name": "draft_follow_up", "args": proposal.args,
                             "description": proposal.description}],
        "review_configs": [{"action_name": "draft_follow_up",
                            "allowed_decisions": ["approve", "reject"]}]}

    done = decide_proposal(rt, riley, proposal.proposal_id, "approve")
    assert done.proposals[0].status == "executed"
    assert "new draft" in done.text
    worker.run_until_idle()
    assert _cards(rt, lead_id) == [(1, "revised", "U0REP0001"), (2, "pending", "U0REP0001")]
    with rt.db.read() as session:
        v2 = session.scalar(select(Approval).where(Approval.lead_id == lead_id,
                                                   Approval.version == 2))
        assert v2 is not None and v2.to_email == "ada@acme.io"  # a normal approval card

    with pytest.raises(Conflict) as twice:
        decide_proposal(rt, riley, proposal.proposal_id, "approve")
    assert twice.value.status == 409
    with pytest.raises(Conflict):
        decide_proposal(rt, riley, proposal.proposal_id, "reject")
    worker.run_until_idle()
    assert len(_cards(rt, lead_id)) == 2  # executed exactly once


def test_a_follow_up_without_an_open_handoff_starts_one(rt, seeded, riley, worker) -> None:
    lead_id = seeded["ian"]  # contacted already: no active handoff
    [proposal] = ask(rt, riley, "D1:1", "follow up with Ian about pricing").proposals
    assert len(_cards(rt, lead_id)) == 1
    decide_proposal(rt, riley, proposal.proposal_id, "approve")
    worker.run_until_idle()
    cards = _cards(rt, lead_id)
    assert cards[-1] == (1, "pending", "U0REP0001") and len(cards) == 2
    with rt.db.read() as session:
        card = session.scalar(select(Approval).where(Approval.lead_id == lead_id,
                                                     Approval.status == "pending"))
        # The rep's instruction reached the first draft (the offline drafter's note says what
        # it followed of it and what it could not).
        assert card is not None and ("offline draft: followed" in (card.draft_note or "")
                                     or "could not follow" in (card.draft_note or ""))
    with rt.db.read() as session:
        assert session.scalar(select(Handoff).where(Handoff.lead_id == lead_id,
                                                    Handoff.active.is_(True))) is not None


def test_reject_changes_nothing(rt, seeded, riley, worker) -> None:
    lead_id = seeded["gil"]
    [proposal] = ask(rt, riley, "D1:1", "hand Globex to Sam").proposals
    assert proposal.action == "reassign" and proposal.args["to"] == "U0REP0002"
    done = decide_proposal(rt, riley, proposal.proposal_id, "reject", note="changed my mind")
    worker.run_until_idle()
    assert done.proposals[0].status == "rejected" and "nothing was changed" in done.text
    assert _cards(rt, lead_id) == [(1, "pending", "U0REP0001")]
    assert _lead(rt, lead_id).owner == "U0REP0001"
    with rt.db.read() as session:
        row = session.get(AssistantProposal, proposal.proposal_id)
        assert row is not None and row.executed_at is None and row.note == "changed my mind"
    with pytest.raises(Conflict):
        decide_proposal(rt, riley, proposal.proposal_id, "approve")
    assert _lead(rt, lead_id).owner == "U0REP0001"


def test_reassign_moves_the_card_to_the_new_holder(rt, seeded, riley, sam, worker) -> None:
    lead_id = seeded["gil"]
    [proposal] = ask(rt, riley, "D1:1", "hand Globex to Sam").proposals
    decide_proposal(rt, riley, proposal.proposal_id, "approve")
    worker.run_until_idle()
    assert _cards(rt, lead_id)[-1] == (2, "pending", "U0REP0002")
    assert _lead(rt, lead_id).owner == "U0REP0002"
    # Gil is Sam's now: Riley no longer sees him, Sam does.
    assert "couldn't find" in ask(rt, riley, "D1:2", "why is Globex hot?").text
    assert ask(rt, sam, "D2:1", "why is Globex hot?").citations[0].lead_id == lead_id


def test_snooze_until_monday_in_the_owners_timezone(rt, seeded, riley) -> None:
    lead_id = seeded["ian"]
    [proposal] = ask(rt, riley, "D1:1", "snooze Initech until Monday").proposals
    # T0 is Wednesday 2026-11-18; the roster's Riley has no timezone: the policy's New York.
    assert proposal.args == {"lead_id": lead_id, "until": "2026-11-23",
                             "timezone": "America/New_York"}
    assert _lead(rt, lead_id).suppressed_until is None
    decide_proposal(rt, riley, proposal.proposal_id, "approve")
    lead = _lead(rt, lead_id)
    assert lead.suppressed_until is not None
    assert lead.suppressed_until.isoformat() == "2026-11-23T14:00:00+00:00"  # 09:00 EST


def test_disposition_closes_the_open_card_with_the_reason(rt, seeded, riley, worker) -> None:
    lead_id = seeded["ada_lovelace"]
    [proposal] = ask(rt, riley, "D1:1", "mark Ada Lovelace as not now").proposals
    assert proposal.args["reason_code"] == "not_now"
    decide_proposal(rt, riley, proposal.proposal_id, "approve")
    worker.run_until_idle()
    assert _cards(rt, lead_id) == [(1, "rejected", "U0REP0001")]
    assert _lead(rt, lead_id).stage == "recycled"


def test_only_the_member_it_was_proposed_to_may_decide(rt, seeded, riley, sam,
                                                        morgan) -> None:
    [proposal] = ask(rt, riley, "D1:1", "hand Globex to Sam").proposals
    for other in (sam, morgan):
        with pytest.raises(NotFound):
            decide_proposal(rt, other, proposal.proposal_id, "approve")
    with pytest.raises(NotFound):
        decide_proposal(rt, riley, "prop_doesnotexist", "approve")
    with pytest.raises(InvalidInput) as bad:
        decide_proposal(rt, riley, proposal.proposal_id, "edit")  # type: ignore[arg-type]
    assert bad.value.field == "decision"
    assert _lead(rt, seeded["gil"]).owner == "U0REP0001"


def test_two_simultaneous_approvals_execute_once(rt, seeded, riley, worker) -> None:
    [proposal] = ask(rt, riley, "D1:1", "draft a follow-up to Gil").proposals
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def click() -> None:
        barrier.wait()
        try:
            decide_proposal(rt, riley, proposal.proposal_id, "approve")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("409")

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    worker.run_until_idle()
    assert sorted(outcomes) == ["409", "ok"]
    assert [c[0] for c in _cards(rt, seeded["gil"])] == [1, 2]


def test_the_interrupt_round_trips_through_command_resume(rt, seeded, riley, worker) -> None:
    """Resuming the graph directly, as LangGraph Studio / Agent Chat UI would, with the
    HITLResponse shape: an approve the store has not recorded executes nothing."""
    from service.assistant_port import StoreAssistantPort
    from service.assistant_runs import _context

    [proposal] = ask(rt, riley, "D1:1", "hand Globex to Sam").proposals
    config = _thread(riley, "D1:1", proposal.proposal_id)
    port = StoreAssistantPort(rt, riley, conversation_key="D1:1")
    with pytest.raises(Conflict):  # approved in the graph, but no click was recorded
        rt.assistant_graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config,
                                  context=_context(rt, port))
    assert _lead(rt, seeded["gil"]).owner == "U0REP0001"


def test_the_threads_that_quote_a_lead_are_known_for_erasure(rt, seeded, riley) -> None:
    from service.assistant_runs import assistant_threads_about

    [proposal] = ask(rt, riley, "D1:1", "hand Globex to Sam").proposals
    ask(rt, riley, "D1:2", "why is Globex hot?")
    ask(rt, riley, "D1:3", "why is Acme hot?")
    with rt.db.read() as session:
        threads = assistant_threads_about(session, seeded["gil"])
    base = f"assistant:{riley.key}"
    assert threads == [f"{base}:D1:1", f"{base}:D1:1:{proposal.proposal_id}", f"{base}:D1:2"]
    for thread in threads:  # each is a real checkpoint thread
        assert rt.assistant_graph.get_state({"configurable": {"thread_id": thread}}).values


def test_feedback_is_stored_for_the_reply_and_only_by_its_member(rt, seeded, riley,
                                                                 sam) -> None:
    reply = ask(rt, riley, "D1:1", "what's on my plate?")
    record_feedback(rt, riley, reply.reply_id, False)
    record_feedback(rt, riley, reply.reply_id, True)  # the last click counts
    with pytest.raises(NotFound):
        record_feedback(rt, sam, reply.reply_id, False)
    with rt.db.read() as session:
        row = session.get(AssistantReply, reply.reply_id)
        assert row is not None and row.helpful is True and row.feedback_at is not None
    ask(rt, riley, "D1:1", "how am I doing?")  # not rated
    assert feedback_summary(rt) == {"replies": 2, "helpful": 1, "not_helpful": 0,
                                    "helpful_rate": 1.0}
