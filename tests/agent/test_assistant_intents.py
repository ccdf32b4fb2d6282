"""The offline intent parser on paraphrases of the reps' asks, fuzzy names, ambiguity, dates;
and the assistant graph on a fake port: a proposal waits at its HITLRequest interrupt."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agent.assistant.graph import AssistantContext, build_assistant_graph
from agent.assistant.intents import parse, parse_when, resolve_lead
from agent.assistant.state import (
    ContentHit,
    KpiView,
    LeadRef,
    MemberRef,
    QueueView,
    WhyNowView,
)

LEADS = [LeadRef(lead_id="l1", name="Ada Park", company="Acme"),
         LeadRef(lead_id="l2", name="Ada Lovelace", company="Analytical Engines"),
         LeadRef(lead_id="l3", name="Gil Bates", company="Globex"),
         LeadRef(lead_id="l4", name="Ian Ito", company="Initech")]
TEAM = [MemberRef(key="U0REP0002", name="Sam Seller", role="rep"),
        MemberRef(key="U0REP0001", name="Riley Rep", role="rep"),
        MemberRef(key="U0MGR0001", name="Morgan Manager", role="manager")]
WEDNESDAY = date(2026, 11, 18)


def calls(text: str, **kw: Any) -> list[dict[str, Any]]:
    parsed = parse(text, leads=LEADS, team=TEAM, today=WEDNESDAY, **kw)
    return [dict(c) for c in parsed.calls]


@pytest.mark.parametrize("text", [
    "what's on my plate?", "What's on my plate today", "show me my queue", "whats pending",
    "anything waiting for me?", "what do I have today?", "my todo", "anything overdue?",
    "open approvals please",
])
def test_queue_paraphrases(text: str) -> None:
    assert calls(text) == [{"name": "queue", "args": {}}]


@pytest.mark.parametrize("text,lead", [
    ("why is Acme hot?", "l1"), ("Why is Acme Corp hot", "l1"), ("tell me about Globex", "l3"),
    ("what's up with Initech?", "l4"), ("what do we know about Gil Bates", "l3"),
    ("history of Ian Ito", "l4"), ("why is Ada Lovelace a priority?", "l2"),
    ("why is acme hot", "l1"), ("why is Glbex hot?", "l3"),  # a typo still finds Globex
])
def test_why_now_paraphrases_and_fuzzy_names(text: str, lead: str) -> None:
    assert calls(text) == [{"name": "why_now", "args": {"lead_id": lead}}]


@pytest.mark.parametrize("text,days", [
    ("how am I doing on SLAs this week?", 7), ("my stats this month", 30),
    ("how's my SLA today", 1), ("show my KPIs", 7),
])
def test_kpi_paraphrases(text: str, days: int) -> None:
    assert calls(text) == [{"name": "kpis", "args": {"days": days}}]


@pytest.mark.parametrize("text,instruction", [
    ("draft a follow-up to Ada Park mentioning the webinar", "Mention the webinar"),
    ("Write an email to Gil about the pricing page", "Mention the pricing page"),
    ("please draft a quick follow up for Initech", ""),
    ("follow up with Ian Ito regarding the security review", "Mention the security review"),
])
def test_follow_up_paraphrases(text: str, instruction: str) -> None:
    [call] = calls(text)
    assert call["name"] == "propose_follow_up" and call["args"]["instruction"] == instruction


@pytest.mark.parametrize("text", ["hand Globex to Sam", "reassign Gil Bates to Sam Seller",
                                  "give the Globex account to sam", "transfer Globex to Sam."])
def test_reassign_paraphrases(text: str) -> None:
    assert calls(text) == [{"name": "propose_reassign",
                            "args": {"lead_id": "l3", "to": "U0REP0002"}}]


@pytest.mark.parametrize("text,until", [
    ("snooze Initech until Monday", "2026-11-23"), ("snooze Initech till next monday",
                                                   "2026-11-23"),
    ("snooze Ian Ito for 3 days", "2026-11-21"), ("pause Initech until tomorrow", "2026-11-19"),
    ("snooze Initech until 2026-12-07", "2026-12-07"), ("snooze Initech until Wednesday",
                                                       "2026-11-25"),
])
def test_snooze_dates_from_today(text: str, until: str) -> None:
    assert calls(text) == [{"name": "propose_snooze", "args": {"lead_id": "l4", "until": until}}]


@pytest.mark.parametrize("text,code", [
    ("mark Initech as not now", "not_now"), ("Initech is a duplicate", "duplicate"),
    ("mark Ian as no response", "no_response"), ("set Initech to meeting booked",
                                                 "meeting_set"),
    ("flag Initech as not a fit", "not_icp"), ("Initech is a competitor", "competitor"),
])
def test_disposition_paraphrases(text: str, code: str) -> None:
    got = calls(text)
    assert got == [{"name": "propose_disposition", "args": {"lead_id": "l4", "reason_code": code}}]


def test_ambiguous_first_name_asks_which_then_takes_a_number_or_a_name() -> None:
    parsed = parse("draft a follow-up to Ada mentioning the webinar", leads=LEADS, team=TEAM,
                   today=WEDNESDAY)
    assert parsed.calls == [] and parsed.pending is not None
    assert parsed.question == ('Which "Ada" do you mean?\n1. Ada Park (Acme)\n'
                               '2. Ada Lovelace (Analytical Engines)')
    for answer, lead in (("2", "l2"), ("the first one", "l1"), ("Lovelace", "l2")):
        assert calls(answer, pending=parsed.pending) == [
            {"name": "propose_follow_up",
             "args": {"lead_id": lead, "instruction": "Mention the webinar"}}]


def test_unknown_names_and_asks() -> None:
    assert parse("why is Umbrella hot?", leads=LEADS, team=TEAM,
                 today=WEDNESDAY).not_found == "Umbrella"
    assert parse("hand Globex to Zed", leads=LEADS, team=TEAM,
                 today=WEDNESDAY).question is not None
    assert parse("snooze Initech until yesterday", leads=LEADS, team=TEAM,
                 today=WEDNESDAY).question is not None
    assert parse("tell me a joke", leads=LEADS, team=TEAM, today=WEDNESDAY).unknown


def test_resolution_never_guesses_among_leads_it_was_not_given() -> None:
    assert resolve_lead("Acme", []).lead is None
    assert resolve_lead("Acme", LEADS[1:]).lead is None
    assert parse_when("someday", WEDNESDAY) is None


# -- the graph on a fake port -----------------------------------------------------------------


class FakePort:
    def __init__(self) -> None:
        self.opened: list[tuple[str, str]] = []
        self.executed: list[str] = []

    def me(self) -> MemberRef:
        return TEAM[1]

    def visible_leads(self) -> list[LeadRef]:
        return LEADS

    def team(self) -> list[MemberRef]:
        return TEAM

    def queue(self) -> QueueView:
        return QueueView(items=[], overdue=0, now=datetime(2026, 11, 18, 15, tzinfo=UTC))

    def why_now(self, lead_id: str) -> WhyNowView | None:
        return None

    def kpis(self, days: int) -> KpiView:
        return KpiView(days=days, decided=0, within_sla=0, overdue_now=0,
                       median_minutes_to_decision=None, sent=0)

    def search_content(self, query: str) -> list[ContentHit]:
        return []

    def today(self) -> tuple[date, str]:
        return WEDNESDAY, "America/New_York"

    def open_proposal(self, key: str, action: str, args: dict[str, Any], description: str,
                      lead_id: str | None) -> str:
        self.opened.append((key, action))
        return f"prop_{key}"

    def execute_proposal(self, proposal_id: str) -> str:
        self.executed.append(proposal_id)
        return "done"

    def reject_proposal(self, proposal_id: str) -> str:
        return "rejected"


@pytest.mark.parametrize("decision,executed", [("approve", True), ("reject", False)])
def test_a_proposal_waits_at_its_hitl_request_until_resumed(decision: str,
                                                            executed: bool) -> None:
    graph = build_assistant_graph(InMemorySaver())
    port = FakePort()
    ctx = AssistantContext(port=port)
    state = graph.invoke({"text": "hand Globex to Sam", "turn": 1},
                         {"configurable": {"thread_id": "c"}}, context=ctx)
    [proposal] = state["proposals"]
    assert port.opened == [("1:0", "reassign")] and port.executed == []
    config = {"configurable": {"thread_id": "c:p"}}
    graph.invoke({"proposal": proposal}, config, context=ctx)
    [pause] = graph.get_state(config).interrupts
    assert pause.value["action_requests"][0]["name"] == "reassign"
    assert pause.value["review_configs"][0]["allowed_decisions"] == ["approve", "reject"]
    assert port.executed == []
    done = graph.invoke(Command(resume={"decisions": [{"type": decision}]}), config, context=ctx)
    assert port.executed == ([proposal["proposal_id"]] if executed else [])
    assert done["outcome"] == ("done" if executed else "rejected")


def test_a_decision_the_request_does_not_allow_is_refused() -> None:
    graph = build_assistant_graph(InMemorySaver())
    port = FakePort()
    ctx = AssistantContext(port=port)
    proposal = {"proposal_id": "p1", "action": "reassign", "args": {"lead_id": "l3"},
                "description": "x"}
    config = {"configurable": {"thread_id": "p1"}}
    graph.invoke({"proposal": proposal}, config, context=ctx)
    with pytest.raises(ValueError, match="not allowed"):
        graph.invoke(Command(resume={"decisions": [{"type": "edit", "edited_action": {}}]}),
                     config, context=ctx)
    assert port.executed == []
