"""Support conversations (customer side) and warm-transfer packages: two resources, one router
each. Mounted under `/v1` behind the bearer token like every `/v1/*` router."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel

from agent.support.models import WarmTransfer
from api.deps import RuntimeDep
from service import conversations
from service.conversations import CONVERSATION_ID_PATTERN, CustomerMessageIn

router = APIRouter(prefix="/conversations", tags=["conversations"])
handoffs_router = APIRouter(prefix="/handoffs", tags=["handoffs"])

Status = Literal["bot", "waiting_for_human", "human", "resolved"]
ConversationId = Path(pattern=CONVERSATION_ID_PATTERN, max_length=64,
                      description="Chosen by the client; 1-64 of letters, digits and ._:-")


class MessageReply(BaseModel):
    reply: str | None
    status: Status
    handoff_id: str | None


class MessagePublic(BaseModel):
    role: Literal["customer", "bot", "agent", "system"]
    text: str
    at: datetime
    author: str | None = None


class CustomerPublic(BaseModel):
    email: str | None
    name: str | None


class ConversationPublic(BaseModel):
    conversation_id: str
    status: Status
    owner: str | None
    owner_name: str | None
    handoff_id: str | None
    customer: CustomerPublic
    messages: list[MessagePublic]
    created_at: datetime
    updated_at: datetime


@router.post("/{conversation_id}/messages", response_model=MessageReply)
def post_message(message: CustomerMessageIn, rt: RuntimeDep,
                 conversation_id: str = ConversationId) -> dict[str, Any]:
    """A customer message: the bot answers from the knowledge base, or hands the conversation
    to a person (then `reply` tells the customer so, and `handoff_id` names the transfer), or,
    while a person owns it, stays silent (`reply` is null) and passes the message on."""
    return conversations.post_message(rt, conversation_id, message)


@router.get("/{conversation_id}", response_model=ConversationPublic)
def get_conversation(rt: RuntimeDep, conversation_id: str = ConversationId) -> dict[str, Any]:
    """The conversation's status, owner and every message (customer, bot, agent, system)."""
    return conversations.get_conversation(rt, conversation_id)


@handoffs_router.get("/{handoff_id}", response_model=WarmTransfer)
def get_handoff(handoff_id: str, rt: RuntimeDep) -> dict[str, Any]:
    """The warm-transfer package: summary, trigger, intent, sentiment and trend, customer
    facts, what the bot tried, the full transcript, waiting since, suggested next steps and
    reply."""
    return conversations.get_handoff(rt, handoff_id)
