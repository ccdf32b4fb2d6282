"""Chroma after an erasure: the person's documents leave every collection, and no copy stays in
the embedded store's files (the SQLite file with its write queue and full-text index, and the
vector index files with their stale, never-used capacity)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tools.chroma_erasure import compact_embedded, erase_documents

NEEDLE = "Zephyrine Quillfeather"


def _files_with(folder: Path, needle: str) -> list[str]:
    forms = (needle.lower().encode(), needle.lower().encode("utf-16-le"))
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and any(f in p.read_bytes().lower() for f in forms))


@pytest.fixture
def chroma(tmp_path: Path) -> tuple[Any, Any, Path]:
    from tools.content_library import open_chroma
    from tools.embeddings import build_embedding_function

    settings = make_settings(tmp_path)
    client = open_chroma(settings)
    return client, build_embedding_function(settings), Path(settings.chroma_path)


def _fill(client: Any, ef: Any) -> tuple[Any, Any]:
    edits = client.get_or_create_collection("approved-edits", embedding_function=ef)
    other = client.get_or_create_collection("content-library", embedding_function=ef)
    edits.add(ids=[f"ap_{i}" for i in range(30)],
              documents=[f"Hi there, a demo for the team {i}" for i in range(30)],
              metadatas=[{"lead_id": f"lead_other{i}", "rep": "U1"} for i in range(30)])
    edits.add(ids=["ap_zq", "ap_old"],
              documents=[f"Hi {NEEDLE}, about your demo", f"Dear {NEEDLE}, an older edit"],
              metadatas=[{"lead_id": "lead_zq", "sent_body": f"Thanks {NEEDLE}"},
                         {"rep": "U1", "sent_body": f"Old pair for {NEEDLE}"}])  # no lead_id
    other.add(ids=["asset-1", "asset-zq"],
              documents=["Pricing guide for operations teams", f"Case study by {NEEDLE}"],
              metadatas=[{"kind": "guide"}, {"lead_id": "lead_zq"}])
    return edits, other


@pytest.mark.slow
def test_the_leads_documents_leave_every_collection_and_every_file(chroma) -> None:
    client, ef, folder = chroma
    edits, other = _fill(client, ef)
    assert _files_with(folder, NEEDLE)

    deleted = erase_documents(client, lead_id="lead_zq", ids={"approved-edits": ["ap_old"]})
    assert deleted == {"approved-edits": ["ap_old", "ap_zq"], "content-library": ["asset-zq"]}
    assert edits.count() == 30 and other.count() == 1
    # Deleted, yet the text is still on disk (the write queue, free pages): hence compaction.
    # An HNSW file may hold it too, by chance: its never-used capacity is written from
    # uninitialised heap (see the test below), so only the SQLite file is certain.
    left = _files_with(folder, NEEDLE)
    assert "chroma.sqlite3" in left
    assert all(f == "chroma.sqlite3" or f.endswith(("/data_level0.bin", "/length.bin"))
               for f in left), left

    done = compact_embedded(folder, ids=["ap_old", "ap_zq", "asset-zq"], lead_id="lead_zq")
    assert done.queue_entries_blanked >= 3 and done.vacuumed
    assert _files_with(folder, NEEDLE) == []
    # The collections still work, here and in a fresh process that replays the store.
    assert edits.query(query_texts=["demo for the team"], n_results=3)["ids"][0]
    edits.add(ids=["ap_new"], documents=["Hello again"], metadatas=[{"lead_id": "lead_new"}])
    check = ("import sys, chromadb, tools.embeddings\n"
             "from chromadb.config import Settings\n"
             "c = chromadb.PersistentClient(path=sys.argv[1], "
             "settings=Settings(anonymized_telemetry=False))\n"
             "e = c.get_collection('approved-edits')\n"
             "print(e.count(), len(e.get(ids=['ap_zq', 'ap_old'])['ids']),"
             " e.query(query_texts=['demo'], n_results=2)['ids'][0][0][:3])\n")
    out = subprocess.run([sys.executable, "-c", check, str(folder)], capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.split() == ["31", "0", "ap_"]


def test_stale_heap_memory_in_the_vector_index_files_is_cleared(chroma) -> None:
    """Chroma writes each HNSW segment's whole buffer, capacity included, and the capacity was
    never initialised: it holds whatever the heap held. Planted here the way it was found."""
    client, ef, folder = chroma
    edits, _ = _fill(client, ef)
    garbage = f"garbage from the heap: {NEEDLE} <z@q.io>".encode()
    planted: list[str] = []
    for header in folder.glob("*/header.bin"):
        _, _, capacity, used, slot = struct.unpack_from("<iQQQQ", header.read_bytes())
        # Past the elements in use: the data slots (`slot` bytes each) and the u32 lengths.
        for name, entry in (("data_level0.bin", slot), ("length.bin", 4)):
            assert (capacity - used) * entry >= len(garbage) + 8
            with header.with_name(name).open("r+b") as handle:
                handle.seek(used * entry + 4)
                handle.write(garbage)
            planted.append(f"{header.parent.name}/{name}")
    hnsw_files = [f for f in _files_with(folder, NEEDLE) if f != "chroma.sqlite3"]
    assert len(planted) >= 4 and sorted(hnsw_files) == sorted(planted)

    done = compact_embedded(folder, ids=[], lead_id=None)
    assert done.hnsw_bytes_zeroed > 0 and not done.vacuumed
    assert [f for f in _files_with(folder, NEEDLE) if f != "chroma.sqlite3"] == []
    assert edits.count() == 32 and len(edits.query(query_texts=["demo"], n_results=5)["ids"][0]) == 5


def test_compaction_of_a_folder_without_a_store_does_nothing(tmp_path: Path) -> None:
    done = compact_embedded(tmp_path, ids=["x"], lead_id="lead_x")
    assert (done.queue_entries_blanked, done.vacuumed, done.hnsw_bytes_zeroed) == (0, False, 0)
