"""Helpers for the assistant's Slack tests: a recording stand-in for the assistant's brain, DM
events and clicks as Slack sends them, and readers for what the fake Slack holds.

The brain (`service.assistant.ask` / `decide_proposal` / `record_feedback`) is replaced at the
service door only: these tests are about the Slack surface (events in, status, streaming,
buttons, escaping); the brain's own tests drive the real graph. The stand-in keeps the
service's contract: NotFound for a proposal or reply that is not the member's, Conflict for a
second decision.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from agent.policy import Member
from bench.slack_side import block_actions
from service import assistant
from service.assistant_models import AssistantReply, Citation, Proposal, ProposalStatus
from service.errors import Conflict, NotFound
from slack_app.assistant.blocks import ACTION_FEEDBACK
from store.tables import Lead
from tests.fake_slack import BOT_ID, FakeSlack

REP = "U0REP0001"
OTHER_REP = "U0REP0002"
STRANGER = "U0STRANGR"
DM = "D0REP0001"  # the fake's conversations.open makes D… from U…
THREAD = "1800000000.000100"


def sample_reply(n: int, conversation_key: str, *, text: str | None = None,
                 name: str = "Ada Park (Acme)", signal: str = "pricing page view (e-1)",
                 description: str = "Snooze Acme until Monday") -> AssistantReply:
    return AssistantReply(
        reply_id=f"r{n}", conversation_key=conversation_key,
        text=text or "You have 2 open approvals; Acme is due in 3h.",
        citations=[Citation(lead_id=f"lead-{n}", name=name, signals=[signal])],
        proposals=[Proposal(proposal_id=f"p{n}", action="snooze",
                            args={"lead_id": f"lead-{n}", "until": "2026-11-23"},
                            description=description)],
        tools_used=["queue"])


def _seed_leads(rt: Any, lead_ids: list[str], owner: str) -> None:
    """The leads an answer cites exist, as the real brain's would (the message log files an
    answer under its lead, and redacts it at once if that lead is gone)."""
    now = rt.clock.now()
    with rt.db.session() as session:
        for lead_id in lead_ids:
            if session.get(Lead, lead_id) is None:
                session.add(Lead(id=lead_id, company="Acme", owner=owner, created_at=now,
                                 updated_at=now))


class FakeBrain:
    """Records what the Slack surface asked of the service and answers like it would."""

    def __init__(self) -> None:
        self.asks: list[tuple[str, str, str]] = []
        self.decisions: list[tuple[str, str, str]] = []
        self.feedback: list[tuple[str, str, bool]] = []
        self.reply_kwargs: dict[str, Any] = {}
        self._n = itertools.count(1)
        self._owner: dict[str, str] = {}  # reply and proposal ids -> member key
        self._decided: set[str] = set()
        self._lock = threading.Lock()

    def ask(self, rt: Any, member: Member, conversation_key: str, text: str,
            message_key: str | None = None) -> AssistantReply:
        with self._lock:
            self.asks.append((member.key, conversation_key, text))
            reply = sample_reply(next(self._n), conversation_key, **self.reply_kwargs)
            _seed_leads(rt, [c.lead_id for c in reply.citations], member.key)
            self._owner[reply.reply_id] = member.key
            for proposal in reply.proposals:
                self._owner[proposal.proposal_id] = member.key
        return reply

    def decide_proposal(self, rt: Any, member: Member, proposal_id: str, decision: str,
                        note: str | None = None,
                        notify: dict[str, Any] | None = None) -> AssistantReply:
        with self._lock:
            if self._owner.get(proposal_id) != member.key:
                raise NotFound(f"no proposal {proposal_id}")
            if proposal_id in self._decided:
                raise Conflict(f"proposal {proposal_id} was already decided")
            self._decided.add(proposal_id)
            self.decisions.append((member.key, proposal_id, decision))
        status: ProposalStatus = "executed" if decision == "approve" else "rejected"
        text = "Snoozed until Monday." if decision == "approve" else "Left as it was."
        return AssistantReply(
            reply_id=f"d-{proposal_id}", conversation_key="", text=text,
            proposals=[Proposal(proposal_id=proposal_id, action="snooze", args={},
                                description="Snooze Acme until Monday", status=status)])

    def record_feedback(self, rt: Any, member: Member, reply_id: str, helpful: bool) -> None:
        with self._lock:
            if self._owner.get(reply_id) != member.key:
                raise NotFound(f"no reply {reply_id}")
            self.feedback.append((member.key, reply_id, helpful))


def install_brain(monkeypatch: pytest.MonkeyPatch) -> FakeBrain:
    """Put a FakeBrain behind the service's door for one test (each test module's `brain`
    fixture calls this)."""
    fake = FakeBrain()
    monkeypatch.setattr(assistant, "ask", fake.ask)
    monkeypatch.setattr(assistant, "decide_proposal", fake.decide_proposal)
    monkeypatch.setattr(assistant, "record_feedback", fake.record_feedback)
    return fake


def dm_event(slack: Any, text: str, *, user: str = REP, channel: str = DM,
             thread_ts: str | None = THREAD) -> dict[str, Any]:
    """A person's message in the app's DM (`message.im`), in an assistant thread by default."""
    event = slack.reply_event(channel, thread_ts or "", user, text)
    if thread_ts is None:
        event.pop("thread_ts")
    return event


def answer(fake: FakeSlack, channel: str = DM, timeout: float = 10.0) -> dict[str, Any]:
    """The assistant's finished answer in `channel` (streamed and stopped, or posted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with fake._lock:
            found = [dict(m) for m in fake.messages.values()
                     if m["channel"] == channel and m.get("bot_id") == BOT_ID
                     and not m.get("streaming") and _is_answer(m)]
        if found:
            return found[-1]
        time.sleep(0.02)
    raise AssertionError(f"no answer in {channel}; calls: {fake.methods()}")


def _is_answer(message: dict[str, Any]) -> bool:
    return any(b.get("block_id") == "asst_feedback" for b in message.get("blocks") or [])


def click(slack: Any, message: dict[str, Any], prefix: str, user: str, **kwargs: Any) -> Any:
    """Click a button on an answer as Slack sends it: the message in the payload carries its
    `text` too (bench's `block_actions` leaves it out; cards never needed it)."""
    payload = block_actions(message, prefix, user, next(_CLICKS))
    payload["message"]["text"] = message.get("text")
    return slack.interaction(payload, **kwargs)


_CLICKS = itertools.count(100)


def feedback_click(message: dict[str, Any], user: str, helpful: bool) -> dict[str, Any]:
    """The `block_actions` payload of a thumbs up / down on an answer's feedback buttons."""
    [block] = [b for b in message["blocks"] if b.get("type") == "context_actions"]
    element = block["elements"][0]
    button = element["positive_button" if helpful else "negative_button"]
    return {
        "type": "block_actions", "api_app_id": "A0APP0001", "token": "legacy-token",
        "team": {"id": "T0FAKE001", "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0FAKE001"},
        "container": {"type": "message", "message_ts": message["ts"],
                      "channel_id": message["channel"], "is_ephemeral": False},
        "trigger_id": "9.9.trigger9", "channel": {"id": message["channel"]},
        "message": {"ts": message["ts"], "thread_ts": message.get("thread_ts"),
                    "blocks": message["blocks"], "bot_id": BOT_ID, "type": "message"},
        "actions": [{"type": "feedback_buttons", "action_id": ACTION_FEEDBACK,
                     "block_id": block["block_id"], "value": button["value"],
                     "text": button["text"], "action_ts": f"{time.time():.6f}"}],
    }


def order(fake: FakeSlack, *methods: str) -> list[str]:
    """The calls to these methods, in the order they arrived."""
    return [c.method for c in fake.calls() if c.method in methods]
