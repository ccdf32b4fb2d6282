"""Support without Slack: the warm-transfer inbox and the person's side of a transfer over REST.

`GET /v1/handoffs?status=`, and `POST /v1/handoffs/{handoff_id}/claim`, `/reply`, `/resolve`,
`/hand-back`. The acting person is the personal token's roster member (service.identity); with
the service token the body must name `actor`, and the audit log records `via: service_token`.
The rules are the Slack buttons' rules (service/support_transfers.py): the support team
(`[support].claim_roles`) may claim, the first claim wins and every later one is a 409, only
the owner replies, the owner or a manager closes. Each action refreshes the Slack card (the
service queues `support_update_card`), and an API reply is relayed into the card's thread.
`GET /v1/handoffs/{handoff_id}` (the package) is in api/routers/conversations.py.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from agent.support.models import TransferStatus, WarmTransfer
from api.deps import PrincipalDep, RuntimeDep
from service import conversations
from service.identity import Principal, acting_member
from service.runtime import AppRuntime
from service.support_transfers import MAX_AGENT_TEXT
from service.support_views import list_handoffs

router = APIRouter(prefix="/handoffs", tags=["handoffs"])

_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not on the support team (`[support].claim_roles`), not the owner, or "
                         "`actor` names someone other than the token's member"},
    404: {"description": "Unknown handoff"},
    409: {"description": "Already claimed by someone else (the detail names them), or already "
                         "closed"},
    422: {"description": "Invalid body (e.g. an empty reply, or no `actor` with the service "
                         "token)"},
}


class ActingIn(BaseModel):
    """Who acts: omit with a personal token (it acts as its member); required with the service
    token (a Slack id or email on the roster)."""

    model_config = ConfigDict(extra="forbid")
    actor: str | None = Field(None, max_length=320, description="Slack id or email; optional "
                              "with a personal token, and then it must be that member")


class ReplyIn(ActingIn):
    text: str = Field(min_length=1, max_length=MAX_AGENT_TEXT,
                      description="What the customer reads (role `agent`)")


class HandBackIn(ActingIn):
    note: str | None = Field(None, max_length=2000,
                             description="For the record; not shown to the customer")


class CustomerBrief(BaseModel):
    email: str | None
    name: str | None
    company: str | None
    value: Literal["high", "standard", "unknown"]


class HandoffSummary(BaseModel):
    handoff_id: str
    conversation_id: str
    status: TransferStatus
    owner: str | None
    owner_name: str | None
    summary: str
    intent: str
    trigger: str
    trigger_label: str
    customer: CustomerBrief
    waiting_since: datetime
    claimed_at: datetime | None
    escalated_at: datetime | None
    escalated_to: str | None
    closed_at: datetime | None
    closed_by: str | None


def _acting(rt: AppRuntime, principal: Principal, body: ActingIn | None) -> str:
    """The roster key of the person acting (refused before anything is written)."""
    return acting_member(rt, principal, body.actor if body else None).key


@router.get("", response_model=list[HandoffSummary])
def list_transfers(rt: RuntimeDep,
                   status: Annotated[TransferStatus | None, Query(
                       description="waiting (the queue to claim from), claimed, resolved or "
                                   "handed_back; all when omitted")] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """Warm transfers, oldest first: with `status=waiting`, the queue in the order to claim."""
    return list_handoffs(rt, status=status, limit=limit)


@router.post("/{handoff_id}/claim", response_model=WarmTransfer, responses=_REFUSALS)
def claim(handoff_id: str, rt: RuntimeDep, principal: PrincipalDep,
          body: ActingIn | None = None) -> dict[str, Any]:
    """Take the conversation over. The first claim wins (as the Slack button's); a later one
    gets 409 naming the owner. Only the support team (`[support].claim_roles`) may claim."""
    return conversations.claim(rt, handoff_id, _acting(rt, principal, body),
                               via=principal.audit_detail())


@router.post("/{handoff_id}/reply", response_model=WarmTransfer, responses=_REFUSALS)
def reply(handoff_id: str, body: ReplyIn, rt: RuntimeDep, principal: PrincipalDep,
          idempotency_key: Annotated[str | None, Header(
              max_length=200, description="Send a retried request with the same key: the "
                                          "customer gets the reply once")] = None
          ) -> dict[str, Any]:
    """The owner's message to the customer: `GET /v1/conversations/{id}` shows it with role
    `agent`, and the Slack card's thread shows it too. Only the owner replies (403 otherwise);
    claim first (409 while waiting)."""
    actor = _acting(rt, principal, body)
    key = None
    if idempotency_key:
        digest = hashlib.sha256(f"{handoff_id}\0{idempotency_key}".encode()).hexdigest()
        key = f"api:{digest}"
    conversations.agent_reply(rt, handoff_id, actor, body.text, source_key=key)
    return conversations.get_handoff(rt, handoff_id)


@router.post("/{handoff_id}/resolve", response_model=WarmTransfer, responses=_REFUSALS)
def resolve(handoff_id: str, rt: RuntimeDep, principal: PrincipalDep,
            body: ActingIn | None = None) -> dict[str, Any]:
    """End the conversation: the owner or a manager (or, while unclaimed, the support team)."""
    return conversations.resolve(rt, handoff_id, _acting(rt, principal, body),
                                 via=principal.audit_detail())


@router.post("/{handoff_id}/hand-back", response_model=WarmTransfer, responses=_REFUSALS)
def hand_back(handoff_id: str, rt: RuntimeDep, principal: PrincipalDep,
              body: HandBackIn | None = None) -> dict[str, Any]:
    """Return the conversation to the bot, with a note for the record (not shown to the
    customer): the owner or a manager (or, while unclaimed, the support team)."""
    return conversations.hand_back(rt, handoff_id, _acting(rt, principal, body),
                                   body.note if body else None, via=principal.audit_detail())
