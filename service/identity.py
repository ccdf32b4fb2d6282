"""Who is acting: the principal a request authenticated as, and the roster member it acts as.

Every surface outside Slack authenticates with a bearer token (contract section 6, "Identity"):

- a **personal token** (`hitl tokens create`, service.personal_tokens) belongs to one roster
  member; a request made with it acts as that member. `actor` may be omitted, and when given
  it must name that same member (403 otherwise): nobody decides in someone else's name.
- the **service token** (`HITL_API_TOKEN`) is for machines (a CRM button, a script). It belongs
  to nobody, so whatever it does must name an `actor`, and the record says it came through the
  service token (`via: service_token` in the decision and the audit log).

`hitl serve --dev` with no token configured behaves as the service token.
Slack, the CLI's own commands and the evals identify the person themselves and call the
service with a `Principal` they built (`for_member`) or with an `actor` they verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agent.policy import Member
from service.errors import Forbidden, InvalidInput
from service.runtime import AppRuntime

Via = Literal["service_token", "personal_token"]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request.

    `member`: the roster member a personal token belongs to (None for the service token);
    `via_service_token`: the request came with the service token (or `--dev` without one);
    `token_id`: the personal token's id (None for the service token)."""

    member: Member | None
    via_service_token: bool
    token_id: str | None = None

    @property
    def via(self) -> Via:
        return "service_token" if self.via_service_token else "personal_token"

    def audit_detail(self) -> dict[str, Any]:
        """What the audit log and a decision record about how the person acted."""
        if self.via_service_token:
            return {"via": "service_token"}
        return {"via": "personal_token", "token_id": self.token_id}


SERVICE_PRINCIPAL = Principal(member=None, via_service_token=True, token_id=None)


def for_member(member: Member, token_id: str | None = None) -> Principal:
    """The principal of a person identified by their personal token."""
    return Principal(member=member, via_service_token=False, token_id=token_id)


def acting_member(rt: AppRuntime, principal: Principal, actor: str | None) -> Member:
    """The roster member a request acts as.

    Personal token: its member; an `actor` naming anyone else (by email or Slack id) is
    refused (Forbidden, 403). Service token: `actor` is required (InvalidInput on `actor`,
    422) and must be on the roster (Forbidden, 403). Raises before anything is written."""
    wanted = actor.strip() if actor else None
    if not principal.via_service_token:
        member = principal.member
        if member is None:  # a personal principal always has its member; be strict anyway
            raise Forbidden("this token belongs to no roster member")
        if wanted and wanted.lower() not in {member.email.lower(),
                                             (member.slack_id or "").lower()}:
            raise Forbidden(f"this personal token belongs to {member.name}; it cannot act "
                            f"as {wanted!r} (omit `actor`, or name yourself)")
        return member
    if not wanted:
        raise InvalidInput("actor is required with the service token (HITL_API_TOKEN): name "
                           "the person (Slack id or email), or use a personal token "
                           "(`hitl tokens create`)", field="actor")
    member = rt.roster.find(wanted)
    if member is None:
        raise Forbidden(f"actor {wanted!r} is not on the team roster")
    return member


def actor_label(principal: Principal) -> str:
    """The audit log's `actor` for an action that names no actor (an erasure, a retry): the
    personal token's member (their key), or `api` for the service token, as before."""
    if principal.member is not None and not principal.via_service_token:
        return principal.member.key
    return "api"
