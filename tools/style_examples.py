"""A rep's approved edits as style examples for the drafter: the Chroma side.

Every `edit` decision is a pair: the draft the agent wrote and the text the rep actually sent.
`mirror_edit_pairs` mirrors the pairs it is given into a Chroma collection (the draft is what
gets embedded, so a new draft finds the rep's edits of *similar* drafts); `nearest_edit_pairs`
returns the closest recent ones for a rep. This module sees only a collection and pairs: reading
them from the store, and deciding which still exist, is `service/edit_pairs.py`'s (a pair whose
approval is gone is removed from the collection on the next mirror, and never returned).

Style without content: the examples are written for *other* leads, so nothing of those leads
may reach a new lead's prompt. Every text is redacted before it is stored
(`agent.privacy.redact_for_style`): names, companies, addresses, links, numbers, quoted text and
any other capitalised name become typed placeholders (`‹first_name›`, `‹company›`, `‹name›`,
`‹number›`, `‹url›`, `‹quote›` ...), so the collection keeps the rep's greeting, sign-off,
length, tone and phrasing and no one's data. Placeholders rather than style statistics: the
model learns most from the rep's actual wording, and a placeholder keeps the sentence it sat in.
Each document keeps its `lead_id` in the metadata so an erasure can delete it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.edit_pairs import EditPair
from agent.privacy import REDACTION_VERSION, redact_for_style

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from config.settings import Settings

COLLECTION = "approved-edits"
DEFAULT_MAX_AGE_DAYS = 180
_SYNC_LOCK = threading.Lock()


def open_collection(settings: Settings) -> Collection:
    """Open (or create, or rebuild for another embedding space) the edit-pairs collection."""
    from tools.content_library import open_chroma
    from tools.embeddings import build_embedding_function, embedding_signature

    ef = build_embedding_function(settings)
    client = open_chroma(settings)
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


def _content_hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def mirror_edit_pairs(collection: Collection, pairs: Sequence[EditPair]) -> dict[str, int]:
    """Make the collection hold exactly `pairs` (all the store's edit pairs), redacted by each
    pair's `names` and then by type; returns the counts. Only pairs that are new or changed
    since the last mirror, or stored by older redaction rules, are redacted again."""
    with _SYNC_LOCK:
        existing = collection.get(include=["metadatas"])
        known_hashes = {doc_id: (meta or {}).get("source_hash")
                        for doc_id, meta in zip(existing["ids"], existing["metadatas"] or [],
                                                strict=False)}
        wanted: set[str] = set()
        changed: dict[str, dict[str, Any]] = {}
        for pair in pairs:
            wanted.add(pair.approval_id)
            known = list(pair.names)
            # Redacting is the costly part: only for pairs that are new or changed since the
            # last sync (or were stored by older redaction rules).
            source_hash = _content_hash(REDACTION_VERSION, pair.lead_id or "", pair.rep,
                                        pair.draft_subject, pair.draft_body, pair.sent_subject,
                                        pair.sent_body, *(v for _, v in known))
            if known_hashes.get(pair.approval_id) == source_hash:
                continue
            draft_subject = redact_for_style(pair.draft_subject, known=known)
            draft_body = redact_for_style(pair.draft_body, known=known)
            at = pair.decided_at.astimezone(UTC)
            changed[pair.approval_id] = {
                "document": f"{draft_subject}\n\n{draft_body}",
                # `lead_id`: an erasure deletes by it in every collection (service/erasure.py).
                "metadata": {"rep": pair.rep, "approval_id": pair.approval_id,
                             "lead_id": pair.lead_id, "decided_ts": at.timestamp(),
                             "decided_at": at.isoformat(), "draft_subject": draft_subject,
                             "sent_subject": redact_for_style(pair.sent_subject, known=known),
                             "sent_body": redact_for_style(pair.sent_body, known=known),
                             "prompt_version": pair.prompt_version or "",
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


def nearest_edit_pairs(collection: Collection, rep_key: str, draft_text: str, *,
                       since: datetime, k: int) -> list[EditPair]:
    """The rep's `k` pairs decided since `since` whose drafts are most similar to `draft_text`,
    most similar first, as stored (redacted). Only pairs redacted by the current rules: one
    stored before a mirror re-made it never shows."""
    where = {"$and": [{"rep": rep_key}, {"decided_ts": {"$gte": since.timestamp()}},
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
    examples = []
    for doc_id, meta, doc, dist in zip(ids, metas, docs, dists, strict=False):
        if meta is None:
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
