"""A proposal is approved later than it was made: whose the lead is is checked again when it is
approved (service/assistant_runs.py). A rep's old proposal about a lead a manager has since
handed to someone else is refused (409) and changes nothing; a proposal whose action already
ran when its run was cut short still finishes as done, not as "no longer yours"."""

from __future__ import annotations

from typing import Any

import pytest

from service import assistant_actions
from service.assistant import ask, decide_proposal
from service.errors import Conflict
from store.tables import AssistantProposal, Lead

MOVED = "This lead is no longer yours"


def _lead(rt: Any, lead_id: str) -> Lead:
    with rt.db.read() as session:
        lead = session.get(Lead, lead_id)
        session.expunge(lead)
        return lead


def _hand_to_sam(rt: Any, morgan: Any, worker: Any, company: str) -> None:
    [move] = ask(rt, morgan, "DM:1", f"hand {company} to Sam").proposals
    decide_proposal(rt, morgan, move.proposal_id, "approve")
    worker.run_until_idle()


@pytest.mark.parametrize(("asked", "company", "lead"), [
    ("mark Initech as competitor", "Initech", "ian"),  # would disqualify Sam's lead
    ("hand Initech to Max", "Initech", "ian"),         # would take it from Sam
    ("snooze Acme until Monday", "Acme", "ada_park"),  # would block Sam's approved send
])
def test_an_old_proposal_about_a_lead_that_moved_changes_nothing(
        rt: Any, seeded: dict[str, str], riley: Any, sam: Any, morgan: Any, worker: Any,
        asked: str, company: str, lead: str) -> None:
    lead_id = seeded[lead]
    [stale] = ask(rt, riley, "D1:1", asked).proposals
    before = _lead(rt, lead_id)
    _hand_to_sam(rt, morgan, worker, company)
    assert _lead(rt, lead_id).owner == sam.key

    with pytest.raises(Conflict, match=MOVED):
        decide_proposal(rt, riley, stale.proposal_id, "approve")
    worker.run_until_idle()
    after = _lead(rt, lead_id)
    assert (after.owner, after.stage, after.suppressed_until) == (
        sam.key, before.stage, before.suppressed_until)


def test_a_proposal_about_a_lead_still_theirs_runs(
        rt: Any, seeded: dict[str, str], riley: Any, worker: Any) -> None:
    [proposal] = ask(rt, riley, "D1:1", "mark Initech as competitor").proposals
    done = decide_proposal(rt, riley, proposal.proposal_id, "approve")
    worker.run_until_idle()
    assert MOVED not in done.text
    assert _lead(rt, seeded["ian"]).stage == "disqualified"


def test_a_run_cut_short_after_its_action_committed_finishes_as_done(
        rt: Any, seeded: dict[str, str], riley: Any, worker: Any, clock: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The action commits, then the process dies before the proposal is marked executed: the
    retried run finds the lead moved by the action itself, and must not call that a refusal."""
    [proposal] = ask(rt, riley, "D1:1", "hand Initech to Max").proposals
    real, died = assistant_actions._ACTIONS["reassign"], []

    def reassign_then_die(*args: Any) -> Any:
        result = real(*args)
        if not died:
            died.append(True)
            raise RuntimeError("killed after the action committed")
        return result

    monkeypatch.setitem(assistant_actions._ACTIONS, "reassign", reassign_then_die)
    decide_proposal(rt, riley, proposal.proposal_id, "approve")
    for _ in range(5):
        clock.advance(minutes=1)
        worker.run_until_idle()
    assert _lead(rt, seeded["ian"]).owner == "U0REP0004"  # Max
    with rt.db.read() as session:
        row = session.get(AssistantProposal, proposal.proposal_id)
        assert (row.status, MOVED in (row.result or "")) == ("executed", False), row.result
