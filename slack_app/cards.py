"""Rendering a card from the approval's current state, and where a card should be posted.

Cards are always rendered from what the store says now (not from the event that triggered the
update), so updates are idempotent and may run in any order: the last one shows the truth.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.approvals import get_approval
from service.errors import NotFound
from service.leads import get_lead
from service.runtime import AppRuntime
from slack_app import store
from slack_app.blocks.card import CardFacts, approval_card
from slack_app.text import mention


def load_approval(rt: AppRuntime, approval_id: str) -> dict[str, Any] | None:
    try:
        return get_approval(rt, approval_id)
    except NotFound:
        return None


def load_lead(rt: AppRuntime, lead_id: str) -> dict[str, Any] | None:
    try:
        return get_lead(rt, lead_id)
    except NotFound:
        return None


def card_facts(rt: AppRuntime, approval: dict[str, Any],
               card: store.CardLocation | None = None, *,
               session: Session | None = None, read: store.CardRead | None = None) -> CardFacts:
    """The facts around `approval` now (its decision, a newer version, the lead), in one read
    (in `session` when the caller already has one open). The card job passes what it read as
    `read` (the decision, the lead, the newest version and the cards): no read here then."""
    if read is not None:
        newest, lead, decision = read.newest, read.lead, read.decision
    elif session is None:
        with rt.db.read() as session:
            return card_facts(rt, approval, card, session=session)
    else:
        decision = None
        if approval.get("status") not in ("pending", "superseded"):
            decision = store.decision_in(session, approval["approval_id"])
        newest = store.latest_version_in(session, approval["handoff_id"])
        lead = store.lead_heading_in(session, approval["lead_id"])
    newer = newest if newest and newest["version"] > approval["version"] else None
    newer_card = None
    if newer is not None and read is not None:
        newer_card = next((c for c in read.cards if c.approval_id == newer["approval_id"]), None)
    elif newer is not None and session is not None:
        newer_card = store.card_in(session, newer["approval_id"])
    in_thread = True
    if newer is not None:
        if newer_card is not None and card is not None:
            in_thread = (newer_card.channel, newer_card.thread_ts) == (card.channel,
                                                                      card.thread_ts)
        else:
            in_thread = newer["assignee"] == approval["assignee"]
    return CardFacts(approval=approval, lead=lead, now=rt.clock.now(), decision=decision,
                     newer_version=newer["version"] if newer else None,
                     newer_holder=newer["assignee"] if newer else None,
                     newer_in_thread=in_thread)


def render(rt: AppRuntime, approval: dict[str, Any],
           card: store.CardLocation | None = None, *,
           session: Session | None = None,
           read: store.CardRead | None = None) -> tuple[str, list[dict[str, Any]]]:
    return approval_card(card_facts(rt, approval, card, session=session, read=read))


def slack_user_for(rt: AppRuntime, key: str | None) -> str | None:
    """The Slack user id of a roster key (or of a bare Slack id), if there is one."""
    member = rt.roster.find(key)
    if member is not None:
        return member.slack_id
    return key if mention(key) else None
