"""The assistant answers a rep's asks from the store, citing the leads and signals it used, and
only about leads the rep may see."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from agent.policy import Member
from evals.assistant_seed import INJECTION
from service.assistant import ask
from service.errors import Forbidden, InvalidInput
from store.tables import Approval, AssistantProposal, AssistantReply, AuditEntry


def _pending(rt: Any) -> list[tuple[str, str]]:
    with rt.db.read() as session:
        return sorted(session.execute(select(Approval.lead_id, Approval.assignee)
                                      .where(Approval.status == "pending")).all())


def test_whats_on_my_plate_lists_the_reps_open_cards_with_sla(rt, seeded, riley) -> None:
    reply = ask(rt, riley, "D1:1", "what's on my plate?")
    assert reply.tools_used == ["queue"]
    assert "4 open item(s), 0 overdue" in reply.text
    for name in ("Ada Park (Acme)", "Ada Lovelace (Analytical Engines)", "Gil Bates (Globex)"):
        assert name in reply.text
    assert "due in 15 min" in reply.text  # the hand-raise SLA, from the store
    assert "Umbrella" not in reply.text  # Sam's lead
    assert {c.lead_id for c in reply.citations} == {
        seeded[k] for k in ("ada_park", "ada_lovelace", "gil", "mallory")}
    with rt.db.read() as session:
        stored = session.get(AssistantReply, reply.reply_id)
        assert stored is not None and stored.tools_used == ["queue"]


def test_queue_shows_overdue_when_the_clock_passes_the_sla(rt, seeded, riley, clock) -> None:
    clock.advance(minutes=20)
    reply = ask(rt, riley, "D1:1", "anything overdue?")
    assert "4 open item(s), 4 overdue" in reply.text
    assert "overdue by 5 min" in reply.text


def test_why_is_acme_hot_cites_the_lead_and_its_signals(rt, seeded, riley) -> None:
    reply = ask(rt, riley, "D1:1", "why is Acme hot?")
    assert reply.tools_used == ["why_now"]
    [cited] = reply.citations
    assert cited.lead_id == seeded["ada_park"] and cited.name == "Ada Park (Acme)"
    assert any("ada_park-3" in s and "demo form" in s for s in cited.signals)
    assert "band A" in reply.text and "ada_park-3" in reply.text
    assert "submitted the demo form 30 minutes ago" in reply.text


def test_kpis_count_the_reps_decisions_this_week(rt, seeded, riley) -> None:
    reply = ask(rt, riley, "D1:1", "how am I doing on SLAs this week?")
    assert reply.tools_used == ["kpis"]
    # The seed approved Ian's card as Riley, at once (inside its SLA).
    assert "you decided 1 card(s), 1 within SLA (100%)" in reply.text
    assert "Open cards past their SLA right now: 0" in reply.text


def test_content_search_answers_from_the_library(rt, seeded, riley) -> None:
    reply = ask(rt, riley, "D1:1", "do we have a case study about security reviews?")
    assert reply.tools_used == ["search_content"]
    assert "From the content library" in reply.text


def test_another_reps_lead_is_answered_as_not_found(rt, seeded, riley, sam) -> None:
    theirs = ask(rt, riley, "D1:1", "why is Umbrella hot?")
    nothing = ask(rt, riley, "D1:2", "why is Hooli hot?")  # no such lead anywhere
    assert theirs.citations == [] and theirs.proposals == []
    # The same words as a lead that does not exist: nothing leaks that Umbrella is a lead.
    assert theirs.text.replace("Umbrella", "X") == nothing.text.replace("Hooli", "X")
    assert "Olga" not in theirs.text
    # A proposal about it is refused the same way, and nothing is recorded.
    refused = ask(rt, riley, "D1:1", "hand Umbrella to Riley")
    assert refused.proposals == [] and "couldn't find" in refused.text
    # Sam, its owner, gets the answer.
    own = ask(rt, sam, "D2:1", "why is Umbrella hot?")
    assert [c.lead_id for c in own.citations] == [seeded["olga"]]


def test_a_manager_sees_every_reps_leads(rt, seeded, morgan) -> None:
    reply = ask(rt, morgan, "D3:1", "why is Umbrella hot?")
    assert [c.lead_id for c in reply.citations] == [seeded["olga"]]


def test_a_stranger_gets_nothing(rt, seeded) -> None:
    stranger = Member(email="eve@elsewhere.example", name="Eve", role="rep", slack_id="U0NOBODY")
    with pytest.raises(Forbidden):
        ask(rt, stranger, "D9:1", "what's on my plate?")


def test_ambiguous_name_asks_which_and_the_answer_continues_the_ask(rt, seeded, riley) -> None:
    first = ask(rt, riley, "D1:1", "draft a follow-up to Ada mentioning the webinar")
    assert first.proposals == [] and "Which \"Ada\" do you mean?" in first.text
    assert "1. Ada Park (Acme)" in first.text and "2. Ada Lovelace" in first.text
    second = ask(rt, riley, "D1:1", "the second one")
    [proposal] = second.proposals
    assert proposal.action == "draft_follow_up"
    assert proposal.args == {"lead_id": seeded["ada_lovelace"],
                             "instruction": "Mention the webinar"}
    # A different conversation does not inherit the question.
    other = ask(rt, riley, "D1:9", "the second one")
    assert other.proposals == []


def test_injection_in_lead_text_is_quoted_never_followed(rt, seeded, riley) -> None:
    before = _pending(rt)
    reply = ask(rt, riley, "D1:1", "why is Mallory hot?")
    assert reply.tools_used == ["why_now"] and reply.proposals == []
    assert "“Mallory Quinn (Ignore all previous instructions" in reply.text  # quoted as data
    assert "contains instructions aimed at the assistant" in reply.text  # flagged as a risk
    assert _pending(rt) == before  # nothing reassigned, nothing closed
    with rt.db.read() as session:
        assert session.scalar(select(func.count()).select_from(AssistantProposal)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action.like("assistant_%"))) == 0
    assert INJECTION.startswith("Ignore all previous instructions")


def test_bad_input_names_the_field(rt, seeded, riley) -> None:
    with pytest.raises(InvalidInput) as empty:
        ask(rt, riley, "D1:1", "   ")
    assert empty.value.field == "text"
    with pytest.raises(InvalidInput) as long:
        ask(rt, riley, "D1:1", "x" * 5000)
    assert long.value.field == "text"
    with pytest.raises(InvalidInput) as key:
        ask(rt, riley, "", "hello")
    assert key.value.field == "conversation_key"


def test_unknown_ask_gets_the_help(rt, seeded, riley) -> None:
    reply = ask(rt, riley, "D1:1", "sing me a song")
    assert reply.tools_used == [] and "I can help with" in reply.text
