"""Erasing a person from Chroma: their documents out of every collection, and no copy left on
disk by the embedded store.

`erase_documents` deletes, in every collection, the documents whose `lead_id` metadata names
the lead, plus any ids the caller names (documents written before they carried `lead_id`).

Deleting is not enough for the embedded store (`PersistentClient`, checked on Chroma 1.5): its
`chroma.sqlite3` keeps each write in the `embeddings_queue` table (document and metadata
included) until the vector index has persisted past it, the full-text index keeps deleted
terms until it is merged, and Chroma's bundled SQLite leaves deleted rows in free pages.
`compact_embedded` therefore blanks the queued metadata of the erased documents, merges the
full-text index and VACUUMs the file. The vectors of the erased documents carry no text; the
index reuses their slots.

The vector index files need care too (checked on Chroma 1.5.9): each HNSW segment writes its
whole `data_level0.bin` buffer and its `length.bin` array (one u32 per element), capacity
included, and the entries past the elements in use were never initialised: they hold whatever
the process's heap held before (the erasure drill found a lead's name and email in both). The
compaction zeroes that unused tail of both files in every segment, which hnswlib never reads
(an entry is written when an element is added to it).

The compaction runs in a child process with the standard `sqlite3` module: Chroma links its own
copy of SQLite, and two SQLite libraries in one process would break each other's POSIX file
locks (SQLite's "how to corrupt" guide, section 2.2.1); across processes the locks hold.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMA_SQLITE = "chroma.sqlite3"
COMPACT_TIMEOUT_S = 120
_BUSY_TIMEOUT_S = 30
_CHUNK = 500


class CompactionFailed(RuntimeError):
    """The embedded store could not be compacted now (locked, or the child failed)."""


@dataclass(frozen=True)
class Compaction:
    """What a compaction did: queued writes blanked, whether the file was rewritten, and how
    many bytes of stale heap memory were cleared from the vector index files."""

    queue_entries_blanked: int
    vacuumed: bool
    hnsw_bytes_zeroed: int = 0


def erase_documents(client: Any, *, lead_id: str | None,
                    ids: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Delete the lead's documents (`lead_id` metadata) and the named ids (collection name ->
    ids) from every collection of `client`; returns the ids deleted, per collection."""
    named = ids or {}
    deleted: dict[str, list[str]] = {}
    for collection in client.list_collections():
        found: set[str] = set()
        if lead_id:
            found.update(collection.get(where={"lead_id": lead_id}, include=[])["ids"])
        wanted = named.get(collection.name) or []
        if wanted:
            found.update(collection.get(ids=list(wanted), include=[])["ids"])
        if found:
            collection.delete(ids=sorted(found))
        deleted[collection.name] = sorted(found)
    return deleted


def compact_embedded(folder: Path, *, ids: list[str], lead_id: str | None,
                     force: bool = False) -> Compaction:
    """Blank the queued copies of these documents in the embedded store at `folder`, merge the
    full-text index and VACUUM, in a child process. Without `force`, the file is rewritten
    only when something was deleted or blanked (the caller says so with `force`)."""
    database = folder / CHROMA_SQLITE
    if not database.exists():
        return Compaction(0, False)
    request = json.dumps({"database": str(database), "ids": ids, "lead_id": lead_id,
                          "force": force})
    try:
        done = subprocess.run([sys.executable, "-m", "tools.chroma_erasure"], input=request,
                              capture_output=True, text=True, timeout=COMPACT_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompactionFailed(f"compacting {database}: {type(exc).__name__}") from exc
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CompactionFailed(f"compacting {database} failed: {detail}")
    result = json.loads(done.stdout)
    return Compaction(int(result["blanked"]), bool(result["vacuumed"]),
                      int(result["hnsw_bytes_zeroed"]))


def _compact(database: str, ids: list[str], lead_id: str | None, force: bool) -> dict[str, Any]:
    """The child's work, on the standard library's SQLite only."""
    connection = sqlite3.connect(database, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
    try:
        connection.execute("PRAGMA secure_delete=ON")  # pages freed below are zeroed
        connection.execute("BEGIN IMMEDIATE")
        blanked = 0
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            blanked += connection.execute(
                f"UPDATE embeddings_queue SET metadata = NULL "
                f"WHERE metadata IS NOT NULL AND id IN ({marks})", chunk).rowcount
        if lead_id:
            # Any queued write that named the lead, whatever its id (instr: no LIKE wildcards).
            blanked += connection.execute(
                "UPDATE embeddings_queue SET metadata = NULL "
                "WHERE metadata IS NOT NULL AND instr(metadata, ?) > 0",
                (json.dumps({"lead_id": lead_id}, separators=(",", ":"))[1:-1],)).rowcount
        has_fts = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'embedding_fulltext_search'").fetchone()
        vacuum = force or blanked > 0
        if has_fts and vacuum:
            connection.execute("INSERT INTO embedding_fulltext_search(embedding_fulltext_search)"
                               " VALUES('optimize')")
        # Still holding the write lock: no write to the collections starts meanwhile.
        zeroed = _zero_unused_hnsw_slots(Path(database).parent)
        connection.execute("COMMIT")
        if vacuum:
            connection.execute("VACUUM")
        return {"blanked": blanked, "vacuumed": vacuum, "hnsw_bytes_zeroed": zeroed}
    finally:
        connection.close()


# hnswlib's header (persistence version 1): i32 version, then size_t offsetLevel0,
# max_elements, cur_element_count, size_data_per_element.
_HNSW_HEADER = struct.Struct("<iQQQQ")


_LENGTH_ENTRY = 4  # `length.bin`: a u32 per element (its upper levels' link-list size)


def _zero_unused_hnsw_slots(folder: Path) -> int:
    """Zero the never-used capacity at the end of each segment's `data_level0.bin` and
    `length.bin`; returns the bytes that held something. A file whose layout is not the one
    described is left alone."""
    zeroed = 0
    for header_file in folder.glob("*/header.bin"):
        header = header_file.read_bytes()
        if len(header) < _HNSW_HEADER.size:
            continue
        version, offset, capacity, used, slot = _HNSW_HEADER.unpack_from(header)
        if version != 1 or offset != 0 or slot <= 0 or used > capacity:
            continue
        for name, entry in (("data_level0.bin", slot), ("length.bin", _LENGTH_ENTRY)):
            zeroed += _zero_tail(header_file.with_name(name), start=used * entry,
                                 size=capacity * entry)
    return zeroed


def _zero_tail(path: Path, *, start: int, size: int) -> int:
    """Zero `path` from `start` when it is `size` bytes long; returns the bytes that were not."""
    if not path.exists() or path.stat().st_size != size:
        return 0
    with path.open("r+b") as handle:
        handle.seek(start)
        tail = handle.read(size - start)
        dirty = len(tail) - tail.count(0)
        if dirty:
            handle.seek(start)
            handle.write(bytes(len(tail)))
            handle.flush()
            os.fsync(handle.fileno())
    return dirty


def _main() -> None:
    request = json.loads(sys.stdin.read())
    result = _compact(request["database"], list(request["ids"]), request.get("lead_id"),
                      bool(request.get("force")))
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    _main()
