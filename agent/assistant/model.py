"""Tool calling with a chat model, when one is configured (settings.model_endpoint_configured).

The model chooses the tools and writes the answer; the rest stays deterministic: lead names it
passes are resolved by the same fuzzy matcher over the leads the member may see (so a model can
no more reach another rep's lead than the parser can), proposals are only recorded, and the
citations come from the tool results. Any model failure falls back to the offline parser and
answers, so the rep always gets a reply.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from agent.assistant import answers
from agent.assistant.intents import parse_when, resolve_lead, resolve_member
from agent.assistant.state import AssistantPort, ToolCall
from prompts import render

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from config.settings import Settings

log = logging.getLogger(__name__)

MAX_CALLS = 4
RESULT_CHARS = 6_000  # the tool results shown to the model for the answer, at most
_LEAD = {"lead": {"type": "string", "description": "The lead's name or company, as the rep "
                                                   "wrote it."}}


def _tool(name: str, description: str, properties: dict[str, Any],
          required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required,
                       "additionalProperties": False}}}


TOOLS: list[dict[str, Any]] = [
    _tool("queue", "The rep's open approval cards and handoffs with SLA state.", {}, []),
    _tool("why_now", "Why a lead is hot now: signals, risks, history.", _LEAD, ["lead"]),
    _tool("kpis", "The rep's decisions, SLA attainment and sends.",
          {"days": {"type": "integer", "minimum": 1, "maximum": 90}}, ["days"]),
    _tool("search_content", "Search the content library.",
          {"query": {"type": "string"}}, ["query"]),
    _tool("propose_follow_up", "Propose drafting a follow-up email (the rep approves).",
          {**_LEAD, "instruction": {"type": "string", "description": "What to mention."}},
          ["lead", "instruction"]),
    _tool("propose_reassign", "Propose handing a lead to a teammate (the rep approves).",
          {**_LEAD, "to": {"type": "string", "description": "The teammate's name."}},
          ["lead", "to"]),
    _tool("propose_snooze", "Propose snoozing a lead until a day (the rep approves).",
          {**_LEAD, "until": {"type": "string", "description": "A weekday, 'tomorrow', "
                                                               "'next week' or YYYY-MM-DD."}},
          ["lead", "until"]),
    _tool("propose_disposition", "Propose setting a lead's disposition (the rep approves).",
          {**_LEAD, "reason_code": {"type": "string", "enum": list(answers.REASON_WORDS)}},
          ["lead", "reason_code"]),
]


class ModelPlanner:
    """Plans a message's tool calls and writes the answer with a tool-calling chat model."""

    def __init__(self, chat_model: BaseChatModel) -> None:
        self.chat_model = chat_model
        self._with_tools = chat_model.bind_tools(TOOLS)

    def plan(self, text: str, history: list[dict[str, str]],
             port: AssistantPort) -> dict[str, Any] | None:
        """{"calls", "answer", "pending"} for the graph; None when the model failed."""
        today, tz = port.today()
        me = port.me()
        system = render("assistant_system.j2", member_name=me.name, member_role=me.role,
                        today=today.isoformat(), timezone=tz)
        messages: list[tuple[str, str]] = [("system", system)]
        messages += [("human" if h["role"] == "rep" else "ai", h["content"]) for h in history]
        messages.append(("human", text))
        try:
            message = self._with_tools.invoke(messages)
        except Exception:  # the offline parser answers instead; the log says why
            log.warning("assistant model call failed; answering offline", exc_info=True)
            return None
        calls: list[ToolCall] = []
        notes: list[str] = []
        for call in (getattr(message, "tool_calls", None) or [])[:MAX_CALLS]:
            made = _to_call(call.get("name", ""), dict(call.get("args") or {}), port)
            if isinstance(made, str):
                notes.append(made)
            else:
                calls.append(made)
        content = message.content if isinstance(message.content, str) else ""
        answer = "\n".join(notes) if notes else ("" if calls else content.strip())
        return {"calls": calls, "answer": answer, "pending": None}

    def answer(self, text: str, results: list[dict[str, Any]]) -> str | None:
        """The model's reply over the tool results; None when it failed (offline text then)."""
        shown = [{"tool": r["tool"], "answer": r["text"]} for r in results]
        data = json.dumps(shown, ensure_ascii=False)[:RESULT_CHARS]
        prompt = render("assistant_answer.j2", ask=text, results=data)
        try:
            message = self.chat_model.invoke([("human", prompt)])
        except Exception:
            log.warning("assistant model answer failed; answering offline", exc_info=True)
            return None
        content = message.content if isinstance(message.content, str) else ""
        return content.strip() or None


def _to_call(name: str, args: dict[str, Any], port: AssistantPort) -> ToolCall | str:
    """A model's tool call as the graph's, with names resolved among what the member may see;
    a sentence for the rep when a name does not resolve."""
    if name == "queue":
        return {"name": "queue", "args": {}}
    if name == "kpis":
        return {"name": "kpis", "args": {"days": args.get("days") or 7}}
    if name == "search_content":
        return {"name": "search_content", "args": {"query": str(args.get("query") or "")}}
    if name not in ("why_now", "propose_follow_up", "propose_reassign", "propose_snooze",
                    "propose_disposition"):
        return f"(I can't use a tool called {name[:40]!r}.)"
    found = resolve_lead(str(args.get("lead") or ""), port.visible_leads())
    if found.candidates:
        listed = "\n".join(f"{i}. {c.label}" for i, c in enumerate(found.candidates, 1))
        return f"Which \"{found.name}\" do you mean?\n{listed}"
    if found.lead is None:
        return answers.not_found_text(found.name or str(args.get("lead") or ""))
    out: dict[str, Any] = {"lead_id": found.lead.lead_id}
    if name == "propose_follow_up":
        out["instruction"] = str(args.get("instruction") or "")
    elif name == "propose_reassign":
        member = resolve_member(str(args.get("to") or ""), port.team())
        if member is None:
            return f"I don't know who \"{str(args.get('to'))[:60]}\" is on the team."
        out["to"] = member.key
    elif name == "propose_snooze":
        today, _ = port.today()
        when = str(args.get("until") or "")
        until = parse_when(when, today)
        if until is None:
            return f"I couldn't read \"{when[:40]}\" as a day."
        out["until"] = until.isoformat()
    elif name == "propose_disposition":
        out["reason_code"] = args.get("reason_code")
    return {"name": name, "args": out}


def build_planner(settings: Settings, *, http_client: Any = None,
                  http_async_client: Any = None) -> ModelPlanner:
    """The planner on the configured OpenAI-compatible endpoint (the drafting model's client)."""
    from agent.drafting import build_chat_model

    return ModelPlanner(build_chat_model(settings, http_client, http_async_client))
