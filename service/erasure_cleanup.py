"""After an erasure's store transaction: its checkpoint threads and Chroma documents deleted,
the embedded Chroma store compacted, SQLite's write-ahead log emptied (service/erasure.py
coordinates; this part runs inline first and, if it fails, as the queued `erasure_cleanup`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.runtime import AppRuntime

log = logging.getLogger(__name__)

CLEANUP_JOB = "erasure_cleanup"
_WAL_ATTEMPTS = 20


class ChromaErasure(BaseModel):
    documents: dict[str, int] = Field(description="documents deleted, per collection")
    compacted: bool = Field(description="the embedded store was compacted (no copy on disk)")
    status: Literal["done", "queued", "nothing_to_erase"]
    detail: str | None = None


def run_cleanup(rt: AppRuntime, payload: dict[str, Any], *,
                force_compaction: bool = False) -> tuple[int, ChromaErasure]:
    """Delete the checkpoint threads and the Chroma documents an erasure named, and compact
    the embedded Chroma store. Idempotent: a second run finds nothing and changes nothing
    (with `force_compaction`, as the retried job runs, it still rewrites the store)."""
    threads = delete_threads(rt, payload.get("threads") or [])
    return threads, _erase_chroma(rt, payload, force=force_compaction)


def delete_threads(rt: AppRuntime, thread_ids: list[str]) -> int:
    """Delete these checkpoint threads, their checkpoints and pending writes (overwritten on
    SQLite, not only unlinked); returns how many there were."""
    threads = 0
    saver = rt.checkpointer
    if rt.db.is_sqlite and getattr(saver, "conn", None) is not None:
        saver.conn.execute("PRAGMA secure_delete=ON")
    for thread_id in thread_ids:
        config = {"configurable": {"thread_id": thread_id}}
        if next(iter(saver.list(config, limit=1)), None) is not None:
            threads += 1
        saver.delete_thread(thread_id)
    return threads


def _erase_chroma(rt: AppRuntime, payload: dict[str, Any], *, force: bool) -> ChromaErasure:
    from tools.chroma_erasure import compact_embedded, erase_documents
    from tools.content_library import open_chroma

    lead_id: str | None = payload.get("lead_id")
    named: dict[str, list[str]] = payload.get("chroma_ids") or {}
    deleted: dict[str, list[str]] = {}
    if lead_id is not None or named:
        deleted = erase_documents(open_chroma(rt.settings), lead_id=lead_id, ids=named)
    counts = {name: len(ids) for name, ids in deleted.items()}
    status: Literal["done", "nothing_to_erase"] = "done" if deleted else "nothing_to_erase"
    if rt.settings.chroma_url:
        return ChromaErasure(documents=counts, compacted=False, status=status,
                             detail="Chroma server: deleted through its API; compaction of its "
                                    "files is the server's")
    # Compacted even when no document named the person: the vector index files can hold stale
    # heap memory from the time their text passed through this process (tools.chroma_erasure).
    ids = sorted({i for found in deleted.values() for i in found}
                 | {i for wanted in named.values() for i in wanted})
    compaction = compact_embedded(Path(rt.settings.chroma_path), ids=ids, lead_id=lead_id,
                                  force=force or any(deleted.values()))
    return ChromaErasure(
        documents=counts, compacted=True, status=status,
        detail=(f"{compaction.queue_entries_blanked} queued write(s) blanked, "
                f"{compaction.hnsw_bytes_zeroed} stale byte(s) cleared from vector index files"
                + (", file rewritten (VACUUM)" if compaction.vacuumed else "")))


def cleanup_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`erasure_cleanup {erasure_id, lead_id, threads, chroma_ids}`: the retry of a cleanup
    that failed inline (Chroma unreachable, the store locked)."""
    run_cleanup(rt, payload, force_compaction=True)
    release_sqlite(rt)


def release_sqlite(rt: AppRuntime) -> None:
    """Fold the write-ahead log into the database file and empty it, for the store's pool and
    the checkpointer's connection alike: deleted rows must not linger in `-wal`."""
    if not rt.db.is_sqlite:
        return
    rt.db.truncate_wal()
    saver = rt.open_checkpointer()
    conn = getattr(saver, "conn", None)
    if conn is None:
        return
    with saver.lock:  # type: ignore[union-attr]
        for _ in range(_WAL_ATTEMPTS):
            # (busy, frames in the log, frames checkpointed): busy while a reader holds an
            # older snapshot, which lets go within moments.
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                return
            time.sleep(0.05)
    log.warning("SQLite write-ahead log still in use; it is emptied at the next checkpoint")
