"""A rep's recent approved edits as style examples for the drafter, retrieved from Chroma.

Every `edit` decision is a pair: the draft the agent wrote and the text the rep actually sent.
`sync_edit_pairs` mirrors those pairs into a Chroma collection (the draft is what gets embedded,
so a new draft finds the rep's edits of *similar* drafts); `style_examples` returns the closest
recent ones for a rep. The store is the source of truth: a pair whose approval is gone (erased
lead) is removed from the collection on the next sync, and never returned.

Style without content: the examples are written for *other* leads, so nothing of those leads
may reach a new lead's prompt. Every text is redacted before it is stored
(`agent.privacy.redact_for_style`): names, companies, addresses, links, numbers, quoted text and
any other capitalised name become typed placeholders (`‹first_name›`, `‹company›`, `‹name›`,
`‹number›`, `‹url›`, `‹quote›` ...), so the collection keeps the rep's greeting, sign-off,
length, tone and phrasing and no one's data. Placeholders rather than style statistics: the
model learns most from the rep's actual wording, and a placeholder keeps the sentence it sat in.
Each document keeps its `lead_id` in the metadata so an erasure can delete it.

    examples = style_examples(rt, rep="U0REP0001", draft_text=draft.body, k=3)
    for ex in examples:                # agent.edit_pairs.EditPair, with its `distance`
        ex.draft_body, ex.sent_body   # "the agent wrote ..." / "the rep sent ...", redacted
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from agent.edit_pairs import EditPair
from agent.privacy import REDACTION_VERSION, redact_for_style
from store.tables import Approval, Decision, Lead

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from service.runtime import AppRuntime

COLLECTION = "approved-edits"
DEFAULT_MAX_AGE_DAYS = 180
_SYNC_LOCK = threading.Lock()


def open_collection(rt: AppRuntime) -> Collection:
    """Open (or create, or rebuild for another embedding space) the edit-pairs collection."""
    from tools.content_library import open_chroma
    from tools.embeddings import build_embedding_function, embedding_signature

    ef = build_embedding_function(rt.settings)
    client = open_chroma(rt.settings)
    metadata = {"embedding_signature": embedding_signature(ef)}
    try:
        collection = client.get_or_create_collection(COLLECTION, embedding_function=ef,  # type: ignore[arg-type]
                                                      metadata=metadata)
    except ValueError:  # persisted with another embedding function: it is only an index
        client.delete_collection(COLLECTION)
        collection = client.get_or_create_collection(COLLECTION, embedding_function=ef,  # type: ignore[arg-type]
                                                     metadata=metadata)
    if (collection.metadata or {}).get("embedding_signature") != metadata["embedding_signature"]:
        client.delete_collection(COLLECTION)
        collection = client.get_or_create_collection(COLLECTION, embedding_function=ef,  # type: ignore[arg-type]
                                                     metadata=metadata)
    return collection


def has_recent_edits(rt: AppRuntime, rep_key: str, since: datetime) -> bool:
    """Whether the store holds an edit by this rep since `since` (an indexed lookup): most reps
    on most drafts have none, and then Chroma need not be asked at all."""
    with rt.db.read() as session:
        return session.scalar(select(Decision.id).where(
            Decision.actor == rep_key, Decision.action == "edit",
            Decision.created_at >= since).limit(1)) is not None


def _content_hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _known_strings(lead: Any, to_email: str | None, rep_names: list[str]
                   ) -> list[tuple[str, str]]:
    """What to replace by label before the generic redaction: the lead's record, the rep."""
    known: list[tuple[str, str]] = []
    if lead is not None:
        known += [("first_name", lead.first_name or ""), ("last_name", lead.last_name or ""),
                  ("company", lead.company or ""), ("email", lead.email or ""),
                  ("domain", lead.domain or "")]
    known.append(("email", to_email or ""))
    known += [("rep", name) for name in rep_names]
    return [(label, value) for label, value in known if value and len(value.strip()) > 1]


def sync_edit_pairs(rt: AppRuntime, *, collection: Collection | None = None) -> dict[str, int]:
    """Mirror every edit decision in the store into the collection, redacted; returns the
    counts. Pairs stored by an older redaction are re-made (their hash differs)."""
    collection = collection or rt.style_collection
    with rt.db.session() as session:
        rows = session.execute(
            select(Decision.approval_id, Decision.actor, Decision.created_at, Decision.payload,
                   Approval.subject, Approval.body, Approval.prompt_version, Approval.lead_id,
                   Approval.to_email, Lead)
            .join(Approval, Approval.id == Decision.approval_id)
            .outerjoin(Lead, Lead.id == Approval.lead_id)
            .where(Decision.action == "edit")).all()
    with _SYNC_LOCK:
        existing = collection.get(include=["metadatas"])
        known_hashes = {doc_id: (meta or {}).get("source_hash")
                        for doc_id, meta in zip(existing["ids"], existing["metadatas"] or [],
                                                strict=False)}
        wanted: set[str] = set()
        changed: dict[str, dict[str, Any]] = {}
        for (approval_id, actor, created_at, payload, subject, body, prompt_version, lead_id,
             to_email, lead) in rows:
            wanted.add(approval_id)
            payload = payload or {}
            sent_subject = str(payload.get("subject") or subject)
            sent_body = str(payload.get("body") or body)
            member = rt.roster.find(actor)
            rep_names = [member.name, *member.name.split()] if member is not None else []
            known = _known_strings(lead, to_email, rep_names)
            # Redacting is the costly part: only for pairs that are new or changed since the
            # last sync (or were stored by older redaction rules).
            source_hash = _content_hash(REDACTION_VERSION, lead_id or "", actor, subject, body,
                                        sent_subject, sent_body, *(v for _, v in known))
            if known_hashes.get(approval_id) == source_hash:
                continue
            draft_subject = redact_for_style(subject, known=known)
            draft_body = redact_for_style(body, known=known)
            at = created_at.astimezone(UTC)
            changed[approval_id] = {
                "document": f"{draft_subject}\n\n{draft_body}",
                # `lead_id`: an erasure deletes by it in every collection (service/erasure.py).
                "metadata": {"rep": actor, "approval_id": approval_id, "lead_id": lead_id,
                             "decided_ts": at.timestamp(), "decided_at": at.isoformat(),
                             "draft_subject": draft_subject,
                             "sent_subject": redact_for_style(sent_subject, known=known),
                             "sent_body": redact_for_style(sent_body, known=known),
                             "prompt_version": prompt_version or "",
                             "redaction": REDACTION_VERSION, "source_hash": source_hash},
            }
        gone = [doc_id for doc_id in known_hashes if doc_id not in wanted]
        if gone:
            collection.delete(ids=gone)
        if changed:
            collection.upsert(ids=list(changed),
                              documents=[v["document"] for v in changed.values()],
                              metadatas=[v["metadata"] for v in changed.values()])
    return {"pairs": len(wanted), "added_or_changed": len(changed), "removed": len(gone)}


def style_examples(
    rt: AppRuntime,
    rep: str,
    draft_text: str,
    *,
    k: int = 3,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    sync: bool = True,
) -> list[EditPair]:
    """The rep's `k` approved edits of drafts most similar to `draft_text`, from the last
    `max_age_days`. `rep` is the roster key (Slack id or email) or anything the roster resolves.
    Returns [] when the rep has no edits yet; never returns a pair whose approval is gone, nor
    one stored before the current redaction rules."""
    if k < 1 or not draft_text.strip():
        return []
    member = rt.roster.find(rep)
    rep_key = member.key if member is not None else rep
    since = rt.clock.now() - timedelta(days=max_age_days)
    if not has_recent_edits(rt, rep_key, since):
        return []
    collection = rt.style_collection
    if sync:
        sync_edit_pairs(rt, collection=collection)
    cutoff = since.timestamp()
    # Only pairs redacted by the current rules: one stored before a sync re-made it never shows.
    where = {"$and": [{"rep": rep_key}, {"decided_ts": {"$gte": cutoff}},
                      {"redaction": REDACTION_VERSION}]}
    mine = collection.get(where=where, include=[])  # type: ignore[arg-type]
    if not mine["ids"]:
        return []
    found = collection.query(query_texts=[draft_text], n_results=min(k, len(mine["ids"])),
                             where=where,  # type: ignore[arg-type]
                             include=["metadatas", "documents", "distances"])
    ids = (found.get("ids") or [[]])[0]
    metas = (found.get("metadatas") or [[]])[0]
    docs = (found.get("documents") or [[]])[0]
    dists = (found.get("distances") or [[]])[0]
    with rt.db.session() as session:  # the store decides what still exists
        alive = set(session.scalars(select(Approval.id).where(Approval.id.in_(ids))))
    examples = []
    for doc_id, meta, doc, dist in zip(ids, metas, docs, dists, strict=False):
        if doc_id not in alive or meta is None:
            continue
        draft_subject, _, draft_body = (doc or "").partition("\n\n")
        examples.append(EditPair(
            approval_id=doc_id, rep=str(meta["rep"]),
            decided_at=datetime.fromisoformat(str(meta["decided_at"])),
            draft_subject=draft_subject, draft_body=draft_body,
            sent_subject=str(meta["sent_subject"]), sent_body=str(meta["sent_body"]),
            prompt_version=str(meta.get("prompt_version") or "") or None,
            distance=float(dist), lead_id=str(meta.get("lead_id") or "") or None))
    return examples
