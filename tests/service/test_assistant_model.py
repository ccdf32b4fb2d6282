"""The assistant with a model configured: tool calling against a respx fake of the OpenAI chat
completions API. The model picks tools; names it passes resolve only among the member's leads;
proposals still wait for the rep; a model failure falls back to the offline parser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from agent.drafting import OfflineDrafter
from service.assistant import ask
from tests.conftest import make_settings

LLM_URL = "http://llm.test/v1/chat/completions"


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": "fake", "choices": [{"index": 0, "message": message, "logprobs": None,
                                          "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def tool_calls(*calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return _completion({"role": "assistant", "content": None, "tool_calls": [
        {"id": f"call_{i}", "type": "function",
         "function": {"name": name, "arguments": json.dumps(args)}}
        for i, (name, args) in enumerate(calls)]}, "tool_calls")


def text(content: str) -> dict[str, Any]:
    return _completion({"role": "assistant", "content": content}, "stop")


@pytest.fixture
def rt(tmp_path: Path, clock: Any, content_library: Any) -> Iterator[Any]:
    """A runtime with a model endpoint; cards are drafted offline (only the assistant's calls
    go to the fake)."""
    from hitl.wiring import build_runtime

    settings = make_settings(tmp_path, openai_base_url="http://llm.test/v1",
                             openai_api_key="test-key", embeddings="local", model_max_retries=0)
    runtime = build_runtime(settings, clock=clock, library_override=content_library,
                            drafter_override=OfflineDrafter())
    runtime.db.upgrade()
    yield runtime
    runtime.close()


class FakeModel:
    """Answers the planning call (tools offered) and the answering call (no tools) in turn."""

    def __init__(self, plan: dict[str, Any], answer: str = "Here you go.") -> None:
        self.plan, self.answer = plan, answer
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        return httpx.Response(200, json=self.plan if body.get("tools") else text(self.answer))


@pytest.fixture
def llm() -> Iterator[respx.Route]:
    with respx.mock(assert_all_called=False) as router:
        yield router.post(LLM_URL)


def test_the_model_calls_why_now_and_the_answer_cites_the_store(rt, seeded, riley,
                                                                llm) -> None:
    model = FakeModel(tool_calls(("why_now", {"lead": "Acme"})),
                      answer="Ada Park at Acme asked for a demo 30 minutes ago (ada_park-3).")
    llm.side_effect = model
    reply = ask(rt, riley, "D1:1", "why's Acme on fire?")
    assert reply.tools_used == ["why_now"]
    assert reply.text == "Ada Park at Acme asked for a demo 30 minutes ago (ada_park-3)."
    [cited] = reply.citations
    assert cited.lead_id == seeded["ada_park"] and any("ada_park-3" in s for s in cited.signals)
    planning, answering = model.bodies
    assert {t["function"]["name"] for t in planning["tools"]} >= {"queue", "why_now",
                                                                   "propose_reassign"}
    assert "why's Acme on fire?" in planning["messages"][-1]["content"]
    # The tool results go back to the model as data, inside <lead_data>.
    assert "<lead_data>" in answering["messages"][-1]["content"]
    assert "ada_park-3" in answering["messages"][-1]["content"]


def test_a_model_proposal_still_waits_for_the_reps_click(rt, seeded, riley, llm,
                                                         worker) -> None:
    llm.side_effect = FakeModel(tool_calls(("propose_reassign", {"lead": "Globex",
                                                                 "to": "Sam"})),
                                answer="I proposed handing Globex to Sam; approve it below.")
    reply = ask(rt, riley, "D1:1", "let Sam take Globex")
    [proposal] = reply.proposals
    assert proposal.action == "reassign"
    assert proposal.args == {"lead_id": seeded["gil"], "to": "U0REP0002"}
    worker.run_until_idle()
    from sqlalchemy import select

    from store.tables import Lead
    with rt.db.read() as session:
        assert session.scalar(select(Lead.owner).where(Lead.id == seeded["gil"])) == "U0REP0001"


def test_the_model_cannot_reach_another_reps_lead(rt, seeded, riley, llm) -> None:
    llm.side_effect = FakeModel(tool_calls(("why_now", {"lead": "Umbrella"}),
                                           ("propose_disposition", {"lead": "Olga Other",
                                                                    "reason_code": "duplicate"})))
    reply = ask(rt, riley, "D1:1", "what about Umbrella?")
    assert reply.proposals == [] and reply.citations == []
    assert "couldn't find" in reply.text and "Umbrella" in reply.text


def test_a_model_outage_falls_back_to_the_offline_parser(rt, seeded, riley, llm) -> None:
    llm.return_value = httpx.Response(500, json={"error": {"message": "down"}})
    reply = ask(rt, riley, "D1:1", "what's on my plate?")
    assert reply.tools_used == ["queue"] and "4 open item(s)" in reply.text
    assert llm.called
