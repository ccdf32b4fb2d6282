"""The conversation graph: one run per customer message, one checkpointed thread per
conversation.

    load_turn ─┬─ (a person owns it) ─────────────► relay_to_human
               └─ (the bot owns it) ─► assess ─┬─► transfer      (a trigger fired)
                                               ├─► answer        (grounded, or "not found")
                                               └─► smalltalk

The bot stays silent once a person owns the conversation: the only edge into `assess` leaves
`load_turn` when the store says the status is `bot`. Claims, replies, resolution and hand-back
are recorded in the store by the service (first claim wins), never decided inside the graph.
"""

from __future__ import annotations

import re
from typing import Any, Literal, cast

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from agent.support import sentiment, triggers
from agent.support.models import Assessment, CustomerFacts, TriggerDecision
from agent.support.routers import after_triggers, route_turn
from agent.support.state import ConversationState, NoticeKind, SupportPort


def _port(runtime: Runtime[Any]) -> SupportPort:
    return cast(SupportPort, runtime.context)


def load_turn(state: ConversationState, runtime: Runtime[Any]
              ) -> Command[Literal["assess", "relay_to_human"]]:
    turn = _port(runtime).load_turn(state["conversation_id"], state["message_id"])
    update: dict[str, Any] = {"status": turn["status"], "text": turn["text"],
                              "decision": None, "assessment": {}}
    if state.get("epoch") != turn["epoch"]:
        # A new bot session (first message, or handed back by a person): start counting afresh.
        update.update(epoch=turn["epoch"], misses=0, answers=0, sentiment_history=[],
                      articles_shown=[], transfer_id=None)
    return Command(goto=route_turn(turn["status"]), update=update)


def assess(state: ConversationState, runtime: Runtime[Any]
           ) -> Command[Literal["transfer", "answer", "smalltalk"]]:
    port = _port(runtime)
    cid, mid, text = state["conversation_id"], state["message_id"], state["text"]
    matches, similar = port.retrieve(cid, mid, state["epoch"], text)
    assessment = triggers.assess(text, sentiment=sentiment.score(text), matches=matches,
                                 similar=similar, thresholds=port.thresholds,
                                 policy=port.policy)
    port.annotate(mid, assessment)
    facts = port.customer_facts(cid)
    history = [*state.get("sentiment_history", []), assessment.sentiment]
    decision = triggers.evaluate(assessment, misses_before=state.get("misses", 0),
                                 sentiment_history=history, facts=facts,
                                 thresholds=port.thresholds, policy=port.policy)
    return Command(goto=after_triggers(decision, assessment), update={
        "assessment": assessment.model_dump(mode="json"),
        "decision": decision.model_dump(mode="json") if decision else None,
        "sentiment_history": history,
        "facts": facts.model_dump(mode="json"),
    })


def answer(state: ConversationState, runtime: Runtime[Any]) -> dict[str, Any]:
    port = _port(runtime)
    assessment = Assessment.model_validate(state["assessment"])
    facts = CustomerFacts.model_validate(state.get("facts") or {})
    cid, mid = state["conversation_id"], state["message_id"]
    if not assessment.kb_hit:
        port.notice(cid, mid, "no_answer", facts)
        return {"misses": state.get("misses", 0) + 1, "outcome": "missed"}
    written = port.answer(cid, mid, assessment, facts)
    if not written.answered:  # the model read the articles and found no answer in them
        return {"misses": state.get("misses", 0) + 1, "outcome": "missed"}
    shown = list(state.get("articles_shown", []))
    shown.extend(a.model_dump(mode="json") for a in written.cited)
    return {"misses": 0, "answers": state.get("answers", 0) + 1, "articles_shown": shown,
            "outcome": "answered"}


def smalltalk(state: ConversationState, runtime: Runtime[Any]) -> dict[str, Any]:
    assessment = Assessment.model_validate(state["assessment"])
    facts = CustomerFacts.model_validate(state.get("facts") or {})
    text = assessment.text.lower()
    kind: NoticeKind = "ack"
    if "thank" in text or "cheers" in text:
        kind = "thanks"
    elif re.match(r"\s*(hi|hello|hey|good (morning|afternoon|evening))\b", text):
        kind = "greeting"
    _port(runtime).notice(state["conversation_id"], state["message_id"], kind, facts)
    return {"outcome": "smalltalk"}


def transfer(state: ConversationState, runtime: Runtime[Any]) -> dict[str, Any]:
    decision = TriggerDecision.model_validate(state["decision"])
    session = {"sentiment_history": state.get("sentiment_history", []),
               "articles_shown": state.get("articles_shown", []),
               "misses": state.get("misses", 0), "answers": state.get("answers", 0),
               "assessment": state.get("assessment", {}), "epoch": state.get("epoch", 0)}
    transfer_id = _port(runtime).open_transfer(state["conversation_id"], state["message_id"],
                                               decision, session)
    return {"transfer_id": transfer_id, "outcome": "transferred"}


def relay_to_human(state: ConversationState, runtime: Runtime[Any]) -> dict[str, Any]:
    _port(runtime).relay(state["conversation_id"], state["message_id"])
    return {"outcome": "relayed"}


def build_conversation_graph(checkpointer: Any) -> Any:
    builder = StateGraph(ConversationState)
    builder.add_node("load_turn", load_turn)
    builder.add_node("assess", assess)
    builder.add_node("answer", answer)
    builder.add_node("smalltalk", smalltalk)
    builder.add_node("transfer", transfer)
    builder.add_node("relay_to_human", relay_to_human)
    builder.add_edge(START, "load_turn")
    for node in ("answer", "smalltalk", "transfer", "relay_to_human"):
        builder.add_edge(node, END)
    return builder.compile(checkpointer=checkpointer)
