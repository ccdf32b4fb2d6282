"""Approved edits, read once from the store: the KPI report's edit pairs and the drafter's style
examples both come from `load_edit_pairs` (every `edit` decision with the draft it changed).

The style examples mirror those pairs into Chroma (`tools/style_examples.py`, which only ever
sees a collection and the pairs handed to it); this module decides what the store says: which
pairs exist, who has edits recent enough to ask Chroma at all, and which retrieved pairs still
exist (an erased lead's never come back).

    examples = style_examples(rt, rep="U0REP0001", draft_text=draft.body, k=3)
    for ex in examples:  # agent.edit_pairs.EditPair, redacted, with its `distance`
        ex.draft_body, ex.sent_body   # "the agent wrote ..." / "the rep sent ..."
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.edit_pairs import EditPair
from service.runtime import AppRuntime
from store.tables import Approval, Decision, Lead
from tools.style_examples import DEFAULT_MAX_AGE_DAYS, mirror_edit_pairs, nearest_edit_pairs


def known_names(lead: Any, to_email: str | None, rep_names: Iterable[str]
                ) -> tuple[tuple[str, str], ...]:
    """What to replace by label before any other redaction: the lead's record, the rep."""
    known: list[tuple[str, str]] = []
    if lead is not None:
        known += [("first_name", lead.first_name or ""), ("last_name", lead.last_name or ""),
                  ("company", lead.company or ""), ("email", lead.email or ""),
                  ("domain", lead.domain or "")]
    known.append(("email", to_email or ""))
    known += [("rep", name) for name in rep_names]
    return tuple((label, value) for label, value in known if value and len(value.strip()) > 1)


def load_edit_pairs(session: Session, *, since: datetime | None = None,
                    rep_names: Callable[[str], Iterable[str]] = lambda _actor: ()
                    ) -> list[EditPair]:
    """Every `edit` decision with its draft, oldest first (an erased lead's are already gone).
    `names` carries what to anonymise; `rep_names(actor)` the rep's names for it."""
    query = (select(Decision.approval_id, Decision.actor, Decision.created_at, Decision.payload,
                    Approval.handoff_id, Approval.lead_id, Approval.subject, Approval.body,
                    Approval.to_email, Approval.prompt_version, Approval.policy_version,
                    Lead.id.label("lead_row"), Lead.first_name, Lead.last_name, Lead.company,
                    Lead.email, Lead.domain)
             .join(Approval, Approval.id == Decision.approval_id)
             .outerjoin(Lead, Lead.id == Approval.lead_id)
             .where(Decision.action == "edit")
             .order_by(Decision.created_at, Decision.id))
    if since is not None:
        query = query.where(Decision.created_at >= since)
    pairs = []
    for row in session.execute(query):
        payload = row.payload or {}
        lead = row if row.lead_row is not None else None  # the outer join found no lead
        pairs.append(EditPair(
            approval_id=row.approval_id, rep=row.actor, decided_at=row.created_at,
            draft_subject=row.subject, draft_body=row.body,
            sent_subject=str(payload.get("subject") or row.subject),
            sent_body=str(payload.get("body") or row.body),
            prompt_version=row.prompt_version, lead_id=row.lead_id,
            handoff_id=row.handoff_id, policy_version=row.policy_version,
            names=known_names(lead, row.to_email, rep_names(row.actor)),
        ))
    return pairs


def _roster_names(rt: AppRuntime) -> Callable[[str], list[str]]:
    """A rep's full name and each part of it, from the roster (the style examples' rule)."""
    def names(actor: str) -> list[str]:
        member = rt.roster.find(actor)
        return [member.name, *member.name.split()] if member is not None else []
    return names


def sync_edit_pairs(rt: AppRuntime, *, collection: Any = None) -> dict[str, int]:
    """Mirror every edit decision in the store into the style collection, redacted; returns
    the counts (`pairs`, `added_or_changed`, `removed`)."""
    with rt.db.read() as session:
        pairs = load_edit_pairs(session, rep_names=_roster_names(rt))
    return mirror_edit_pairs(collection or rt.style_collection, pairs)


def has_recent_edits(rt: AppRuntime, rep_key: str, since: datetime) -> bool:
    """Whether the store holds an edit by this rep since `since` (an indexed lookup): most reps
    on most drafts have none, and then Chroma need not be asked at all."""
    with rt.db.read() as session:
        return session.scalar(select(Decision.id).where(
            Decision.actor == rep_key, Decision.action == "edit",
            Decision.created_at >= since).limit(1)) is not None


def style_examples(
    rt: AppRuntime,
    rep: str,
    draft_text: str,
    *,
    k: int = 3,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    sync: bool = True,
    has_edits: Mapping[str, bool] | None = None,
) -> list[EditPair]:
    """The rep's `k` approved edits of drafts most similar to `draft_text`, from the last
    `max_age_days`. `rep` is the roster key (Slack id or email) or anything the roster resolves.
    Returns [] when the rep has no edits yet; never returns a pair whose approval is gone, nor
    one stored before the current redaction rules. `has_edits`: `has_recent_edits` already
    answered for these roster keys over the same window (the caller read it with other
    facts); any other rep is looked up."""
    if k < 1 or not draft_text.strip():
        return []
    member = rt.roster.find(rep)
    rep_key = member.key if member is not None else rep
    since = rt.clock.now() - timedelta(days=max_age_days)
    known = (has_edits or {}).get(rep_key)
    if not (known if known is not None else has_recent_edits(rt, rep_key, since)):
        return []
    collection = rt.style_collection
    if sync:
        sync_edit_pairs(rt, collection=collection)
    found = nearest_edit_pairs(collection, rep_key, draft_text, since=since, k=k)
    if not found:
        return []
    with rt.db.read() as session:  # the store decides what still exists
        alive = set(session.scalars(select(Approval.id).where(
            Approval.id.in_([pair.approval_id for pair in found]))))
    return [pair for pair in found if pair.approval_id in alive]
