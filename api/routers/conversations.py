"""Support conversations (customer side) and warm-transfer packages, mounted under `/v1`.

`router` sits behind the bearer token like every `/v1/*` router; `handoffs_router` takes the
bearer token or a signed, expiring link (api/signed_links.py, from a support notice email).
`customer_router` (reading a conversation) is mounted without it and checks for itself: the API
token, or the conversation's own token (`?token=`), which customer-side widgets hold instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from agent.support.models import WarmTransfer
from api.deps import RuntimeDep, require_token
from api.signed_links import SIGNED_REFUSAL, bearer_or_signed_link
from service import conversations
from service.conversations import CONVERSATION_ID_PATTERN, CustomerMessageIn

router = APIRouter(prefix="/conversations", tags=["conversations"])
customer_router = APIRouter(prefix="/conversations", tags=["conversations"])
# Reading a handoff: the bearer token, or a signed link from a support notice email.
handoffs_router = APIRouter(prefix="/handoffs", tags=["handoffs"], dependencies=[
    Depends(bearer_or_signed_link("/v1/handoffs/{handoff_id}"))])
_bearer = HTTPBearer(auto_error=False, description="HITL_API_TOKEN")

Status = Literal["bot", "waiting_for_human", "human", "resolved"]
ConversationId = Path(pattern=CONVERSATION_ID_PATTERN, max_length=64,
                      description="Chosen by the client; 1-64 of letters, digits and ._:-")


class MessageReply(BaseModel):
    reply: str | None
    status: Status
    handoff_id: str | None
    conversation_token: str | None = Field(
        None, description="Only in the answer to a conversation's first message: the secret "
                          "that reads it (`GET ...?token=`). Shown once, stored only hashed.")


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


@router.post("/{conversation_id}/messages", response_model=MessageReply,
             response_model_exclude_unset=True,
             responses={409: {"description": "The conversation belongs to another customer "
                                             "(or an earlier message is still being answered)"}})
def post_message(message: CustomerMessageIn, rt: RuntimeDep,
                 conversation_id: str = ConversationId) -> dict[str, Any]:
    """A customer message: the bot answers from the knowledge base, or hands the conversation
    to a person (then `reply` tells the customer so, and `handoff_id` names the transfer), or,
    while a person owns it, stays silent (`reply` is null) and passes the message on.

    The first message's `customer.email` owns the conversation, and its answer carries the
    `conversation_token`. Later messages must give the same email or the `token`; any other
    author gets a 409 that says nothing about the conversation."""
    return conversations.post_message(rt, conversation_id, message)


def _reader_token(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(min_length=1, max_length=128,
                                       description="The conversation token (customer side)")
                     ] = None,
) -> str | None:
    """The conversation token of a customer-side read, or None after the API token checked
    out (a dependency, so it runs before the path is validated: no token, no answer)."""
    if token is not None:
        return token
    require_token(rt, credentials)
    return None


@customer_router.get("/{conversation_id}", response_model=ConversationPublic,
                     responses={404: {"description": "Unknown id, or a wrong token"}})
def get_conversation(rt: RuntimeDep, response: Response,
                     token: Annotated[str | None, Depends(_reader_token)],
                     conversation_id: str = ConversationId) -> dict[str, Any]:
    """The conversation's status, owner and every message (customer, bot, agent, system).

    Readable with the API bearer token, or with `?token=<conversation_token>` alone; a wrong
    token is a 404 exactly like an unknown id."""
    if token is not None:
        # A secret in the URL: keep the answer out of shared caches and browser history stores.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
    return conversations.get_conversation(rt, conversation_id, token=token)


@handoffs_router.get("/{handoff_id}", response_model=WarmTransfer, responses=SIGNED_REFUSAL)
def get_handoff(handoff_id: str, rt: RuntimeDep) -> dict[str, Any]:
    """The warm-transfer package: summary, trigger, intent, sentiment and trend, customer
    facts, what the bot tried, the full transcript, waiting since, suggested next steps and
    reply."""
    return conversations.get_handoff(rt, handoff_id)
