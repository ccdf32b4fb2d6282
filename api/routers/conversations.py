"""Support conversations (customer side) and warm-transfer packages, mounted under `/v1`.

`router` sits behind the bearer token like every `/v1/*` router; `handoffs_router` takes the
bearer token or a signed, expiring link (api/signed_links.py, from a support notice email).
`customer_router` (reading a conversation) is mounted without it and checks for itself: the API
token, or the conversation's own token (`?token=`), which customer-side widgets hold instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Body,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from agent.support.models import WarmTransfer
from api.deps import BEARER_REFUSAL, PrincipalDep, RuntimeDep, require_token
from api.signed_links import SIGNED_REFUSAL, bearer_or_signed_link
from service import callbacks, conversations, csat
from service.conversations import CONVERSATION_ID_PATTERN, CustomerMessageIn
from service.csat import RatingIn
from service.identity import acting_member

router = APIRouter(prefix="/conversations", tags=["conversations"])
customer_router = APIRouter(prefix="/conversations", tags=["conversations"])
# Reading a handoff: the bearer token, or a signed link from a support notice email.
handoffs_router = APIRouter(prefix="/handoffs", tags=["handoffs"], dependencies=[
    Depends(bearer_or_signed_link("/v1/handoffs/{handoff_id}"))])
_bearer = HTTPBearer(auto_error=False, description="HITL_API_TOKEN")
# Callbacks customers asked for (issue 19): a list for the support team, and "done".
callbacks_router = APIRouter(prefix="/callbacks", tags=["conversations"])

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


class RatingState(BaseModel):
    requested: bool = Field(description="The conversation is resolved: its customer was asked "
                                        "for a rating (`POST .../rating`)")
    score: int | None = None
    rated_at: datetime | None = None


class CallbackPublic(BaseModel):
    callback_id: str
    conversation_id: str
    due_at: datetime
    timezone: str
    local_time: str
    asked: str
    phone: str | None
    owner: str | None
    owner_name: str | None
    status: Literal["open", "done"]
    reminded_at: datetime | None
    escalated_at: datetime | None
    done_at: datetime | None
    done_by: str | None
    created_at: datetime


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
    rating: RatingState | None = None
    callbacks: list[CallbackPublic] = []


class RatingPublic(BaseModel):
    rating_id: str
    conversation_id: str
    score: int
    comment: str | None
    path: Literal["bot_only", "transferred"]
    trigger: str | None
    agent: str | None
    rated_at: datetime
    followup: bool = Field(description="A low score: the support lead follows up")


class CallbackDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str | None = Field(None, max_length=320,
                              description="Needed with the service token only")


@router.post("/{conversation_id}/messages", response_model=MessageReply,
             response_model_exclude_unset=True,
             responses={409: {"description": "The conversation belongs to another customer "
                                             "(or an earlier message is still being answered)"}})
def post_message(message: CustomerMessageIn, rt: RuntimeDep,
                 conversation_id: str = ConversationId,
                 idempotency_key: Annotated[str | None, Header(
                     min_length=1, max_length=200,
                     description="Send a retried request with the same key: the message is "
                                 "stored and answered once, and the retry gets that answer"
                 )] = None) -> dict[str, Any]:
    """A customer message: the bot answers from the knowledge base, or hands the conversation
    to a person (then `reply` tells the customer so, and `handoff_id` names the transfer), or,
    while a person owns it, stays silent (`reply` is null) and passes the message on.

    The first message's `customer.email` owns the conversation, and its answer carries the
    `conversation_token`. Later messages must give the same email or the `token`; any other
    author gets a 409 that says nothing about the conversation.

    With an `Idempotency-Key`, a retry of the same message (same text, same author) stores
    nothing new and runs no second turn: it answers the reply stored for the first request and
    the conversation's status now, without the `conversation_token` (shown once: only its
    hash is kept). The same key with another message is a 422."""
    return conversations.post_message(rt, conversation_id, message,
                                      request_key=idempotency_key)


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
    answer = conversations.get_conversation(rt, conversation_id, token=token)
    answer["rating"] = csat.rating_state(rt, conversation_id)
    answer["callbacks"] = callbacks.list_callbacks(rt, conversation_id=conversation_id)
    return answer


async def _rater(request: Request, rt: RuntimeDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                 conversation_id: str = ConversationId) -> str:
    """Who rates, checked before the rating is validated: a bearer token (the API token or a
    personal token), else the conversation token in the body (the edge bounded the body).
    401 with neither; 403 for a conversation token that is not this conversation's."""
    if credentials is not None:
        principal = await run_in_threadpool(require_token, rt, credentials)
        return principal.member.key if principal.member else "service_token"
    try:
        body = await request.json()
    except ValueError:
        body = None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise HTTPException(401, detail="send the conversation token (`token` in the body) or "
                                        "a bearer token: " + BEARER_REFUSAL,
                            headers={"WWW-Authenticate": "Bearer"})
    if not await run_in_threadpool(conversations.conversation_token_ok, rt, conversation_id,
                                   token[:200]):
        raise HTTPException(403, detail="this token is not this conversation's token")
    return "customer"


@customer_router.post(
    "/{conversation_id}/rating", response_model=RatingPublic,
    responses={401: {"description": "Neither a conversation token nor a bearer token"},
               403: {"description": "A conversation token that is not this conversation's"},
               409: {"description": "Not resolved yet, or already rated"}})
def rate_conversation(rt: RuntimeDep, rated_by: Annotated[str, Depends(_rater)],
                      rating: Annotated[RatingIn, Body()],
                      conversation_id: str = ConversationId) -> dict[str, Any]:
    """The customer's rating of a resolved conversation: `score` 1-5 and an optional
    `comment`, once per resolved conversation (409 again, and 409 while it is not resolved).
    Authenticated by the conversation token in the body (`token`), or a bearer token."""
    return csat.rate(rt, conversation_id, rating, rated_by=rated_by)


@callbacks_router.get("", response_model=list[CallbackPublic])
def list_callbacks(rt: RuntimeDep,
                   status: Annotated[Literal["open", "done"] | None, Query()] = "open"
                   ) -> list[dict[str, Any]]:
    """Callbacks customers asked for, soonest first (default: the open ones): each is a task
    for its owner with the SLA timer (reminded at the time, escalated to the support lead if
    still open 30 minutes later)."""
    return callbacks.list_callbacks(rt, status=status)


@callbacks_router.post("/{callback_id}/done", response_model=CallbackPublic,
                       responses={409: {"description": "Already done"}})
def callback_done(callback_id: Annotated[str, Path(max_length=40)], rt: RuntimeDep,
                  principal: PrincipalDep, body: CallbackDoneIn | None = None
                  ) -> dict[str, Any]:
    """The call was made: the callback's timer stops. The acting person is the personal
    token's member (the service token names an `actor`)."""
    member = acting_member(rt, principal, body.actor if body else None)
    return callbacks.complete(rt, callback_id, member.key)


@handoffs_router.get("/{handoff_id}", response_model=WarmTransfer, responses=SIGNED_REFUSAL)
def get_handoff(handoff_id: str, rt: RuntimeDep) -> dict[str, Any]:
    """The warm-transfer package: summary, trigger, intent, sentiment and trend, customer
    facts, what the bot tried, the full transcript, waiting since, suggested next steps and
    reply."""
    return conversations.get_handoff(rt, handoff_id)
