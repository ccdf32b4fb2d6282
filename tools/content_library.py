"""The content library: talk tracks, case studies and playbooks in Markdown, searchable in Chroma.

Each asset is one Markdown file with a small front matter block, YAML between `---` lines or
TOML between `+++` lines (`tools.markdown_index`):

    ---
    title: "Pricing questions: talk track"
    kind: talk_track            # talk_track | case_study | playbook
    tags: [pricing, packaging]
    summary: How to answer "how much does it cost?" on a first call.
    ---

`ContentLibrary.index_folder` mirrors one folder into a Chroma collection (upsert by relative
path, skipped when the content hash is unchanged, files that disappeared are removed), and
`recommend` returns the closest assets to a query as `Asset`s.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlparse

from agent.models import Asset
from tools.markdown_index import (
    FolderWatch,
    SignedCollection,
    folder_signature,
    read_folder,
    split_front_matter,
    tag_list,
)

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Documents, EmbeddingFunction

    from config.settings import Settings

log = logging.getLogger(__name__)

AssetKind = Literal["talk_track", "case_study", "playbook"]
ASSET_KINDS: tuple[str, ...] = get_args(AssetKind)
DEFAULT_COLLECTION = "content-library"
# What is embedded per asset; the assets are short, so one vector per file.
_MAX_EMBED_CHARS = 6000
_MAX_SUMMARY_CHARS = 300
_COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9._-]{3,512}$")


class ContentLibraryError(RuntimeError):
    """The library cannot be opened or a folder cannot be indexed (message is safe to show)."""


def open_chroma(settings: Settings) -> ClientAPI:
    """A Chroma client: the server at `HITL_CHROMA_URL` if set, else the embedded folder."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ContentLibraryError(
                f"HITL_CHROMA_URL must look like http://host:port, got {settings.chroma_url!r}"
            )
        ssl = url.scheme == "https"
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if ssl else 8000),
                ssl=ssl,
                settings=chroma_settings,
            )
        except Exception as exc:  # the client checks the server on construction
            raise ContentLibraryError(
                f"cannot reach the Chroma server at {settings.chroma_url}: {type(exc).__name__}"
            ) from exc
    path = Path(settings.chroma_path)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


@dataclass(frozen=True)
class AssetFile:
    """One parsed Markdown asset."""

    relpath: str
    title: str
    kind: AssetKind
    tags: tuple[str, ...]
    summary: str
    body: str
    content_hash: str

    def embedding_text(self) -> str:
        # Title, tags and summary say what the asset is for; repeat them ahead of the body so a
        # long body does not drown them.
        kind = self.kind.replace("_", " ")
        head = f"{self.title}. {kind}. {', '.join(self.tags)}. {self.summary}"
        return f"{head}\n{head}\n{self.body}"[:_MAX_EMBED_CHARS]

    def as_asset(self) -> Asset:
        return Asset(title=self.title, kind=self.kind, path=self.relpath, summary=self.summary)


def parse_asset(text: str, relpath: str) -> AssetFile:
    """Parse one Markdown asset; ValueError says what is wrong with it."""
    text = text.lstrip("\ufeff")
    meta, body = split_front_matter(text, required=True)
    body = body.strip()

    kind = str(meta.get("kind", "")).strip()
    if kind not in ASSET_KINDS:
        raise ValueError(f"kind must be one of {', '.join(ASSET_KINDS)}, got {kind!r}")
    title = str(meta.get("title") or "").strip()
    if not title:
        heading = next((ln[2:].strip() for ln in body.splitlines() if ln.startswith("# ")), "")
        title = heading or Path(relpath).stem.replace("-", " ").replace("_", " ")
    tags = tag_list(meta.get("tags"))
    summary = " ".join(str(meta.get("summary") or "").split())[:_MAX_SUMMARY_CHARS]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return AssetFile(
        relpath=relpath, title=title, kind=kind,  # type: ignore[arg-type]
        tags=tags, summary=summary, body=body, content_hash=digest,
    )


def _folder_key(folder: Path) -> str:
    return str(folder.resolve())


def _doc_id(folder_key: str, relpath: str) -> str:
    folder_hash = hashlib.blake2b(folder_key.encode("utf-8"), digest_size=6).hexdigest()
    return f"{folder_hash}:{relpath}"


class ContentLibrary:
    """Sales assets in one Chroma collection, embedded with the given embedding function."""

    def __init__(
        self,
        client: ClientAPI,
        embedding_function: EmbeddingFunction[Documents],
        collection: str = DEFAULT_COLLECTION,
    ) -> None:
        if not _COLLECTION_NAME.match(collection):
            raise ValueError(
                f"collection name must be 3-512 characters of [a-zA-Z0-9._-], got {collection!r}"
            )
        self._store = SignedCollection(client, embedding_function, collection,
                                       what="content library", reindex_hint="hitl ingest PATH")
        self._lock = self._store.lock
        self._count_cache: tuple[float, int] | None = None
        # Answers by (query, kind, k), valid as long as the count above: the queries repeat a
        # lot (they are built from band, signal labels, industry and risks, not free text).
        self._answers: dict[tuple[str, str | None, int], list[Asset]] = {}
        # The folders this library mirrors (indexed here, named by HITL_CONTENT_PATH, or
        # indexed by another process, e.g. `hitl content add`), re-indexed when a file in them
        # is added, changed or removed: checked before a search, at most every
        # `watch.check_every_s` seconds.
        self.watch = FolderWatch()
        self._folders_listed_at: float | None = None

    # -- collection -------------------------------------------------------------------------

    def _open(self) -> Collection:
        return self._store.open()

    def count(self) -> int:
        """How many assets are indexed (all folders)."""
        return self._open().count()

    # Counting costs a round trip on every lead; the size of a content library changes rarely,
    # and another process indexing shows up within this many seconds.
    COUNT_TTL_S = 60.0

    MAX_CACHED_ANSWERS = 4096

    def _cached_count(self, collection: Any) -> int:
        now = time.monotonic()
        cached = self._count_cache
        if cached is None or now - cached[0] > self.COUNT_TTL_S:
            self._answers = {}
            cached = (now, collection.count())
            self._count_cache = cached
        return int(cached[1])

    # -- indexing ---------------------------------------------------------------------------

    def index_folder(self, path: Path) -> int:
        """Mirror the Markdown assets under `path` into the library.

        Unchanged files (same relative path and content hash) are not re-embedded; files that
        are no longer in the folder are removed; files that cannot be parsed are skipped with a
        warning. Returns the number of assets from this folder now in the library.
        """
        self._count_cache = None
        self._answers = {}
        folder = Path(path)
        if not folder.is_dir():
            raise ContentLibraryError(f"{folder}: not a folder")
        key = _folder_key(folder)
        # Taken before reading: a file saved while we read shows as a change next time.
        signature = folder_signature(folder)
        parsed, _ = read_folder(folder, parse_asset, what="content library")
        assets = {_doc_id(key, relpath): asset for relpath, asset in parsed.items()}

        with self._lock:
            collection = self._open()
            existing = collection.get(where={"source_folder": key}, include=["metadatas"])
            known = {
                doc_id: (meta or {}).get("content_hash")
                for doc_id, meta in zip(existing["ids"], existing["metadatas"] or [], strict=False)
            }
            gone = [doc_id for doc_id in known if doc_id not in assets]
            if gone:
                collection.delete(ids=gone)
            changed = {
                doc_id: asset
                for doc_id, asset in assets.items()
                if known.get(doc_id) != asset.content_hash
            }
            if changed:
                collection.upsert(
                    ids=list(changed),
                    documents=[a.embedding_text() for a in changed.values()],
                    metadatas=[
                        {
                            "title": a.title,
                            "kind": a.kind,
                            "path": a.relpath,
                            "summary": a.summary,
                            "tags": ",".join(a.tags),
                            "content_hash": a.content_hash,
                            "source_folder": key,
                        }
                        for a in changed.values()
                    ],
                )
        self.watch.watch(folder, signature)
        log.info(
            "content library: %s: %d assets (%d new or changed, %d removed)",
            folder, len(assets), len(changed), len(gone),
        )
        return len(assets)

    def watch_folder(self, path: Path) -> None:
        """Mirror `path` from the next search on (indexed then, and again whenever it changes)."""
        self.watch.watch(Path(path))

    # How often the collection is asked which folders it holds (a folder another process
    # indexed, e.g. `hitl content add`, is watched from then on).
    FOLDERS_TTL_S = 60.0

    def _load_known_folders(self, collection: Any) -> None:
        """Watch every folder the collection holds assets from (indexed by any process)."""
        try:
            metas = collection.get(include=["metadatas"]).get("metadatas") or []
        except Exception:  # a search without the reload beats no search
            log.warning("content library: cannot list its folders", exc_info=True)
            return
        watched = set(self.watch.folders())
        for folder in {str((m or {}).get("source_folder") or "") for m in metas} - {""}:
            path = Path(folder)
            if path.is_dir() and path.resolve() not in watched:
                self.watch.watch(path, folder_signature(path))

    def refresh(self) -> int:
        """Re-index the watched folders whose Markdown files changed; how many were."""
        now = time.monotonic()
        listed = self._folders_listed_at
        if listed is None or now - listed >= self.FOLDERS_TTL_S:
            self._folders_listed_at = now
            self._load_known_folders(self._open())
        changed = self.watch.due(now)
        for folder, signature in changed:
            try:
                self.index_folder(folder)
            except ContentLibraryError as exc:  # the folder went away: keep what is indexed
                log.warning("content library: %s", exc)
                self.watch.watch(folder, signature)
        return len(changed)

    # -- search -----------------------------------------------------------------------------

    def recommend(self, query: str, kind: str | None = None, k: int = 1) -> list[Asset]:
        """The `k` assets closest to `query`, optionally of one kind, best first."""
        if k < 1 or not query.strip():
            return []
        if kind is not None and kind not in ASSET_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ASSET_KINDS)}, got {kind!r}")
        self.refresh()
        collection = self._open()
        total = self._cached_count(collection)
        if total == 0:
            return []
        answers = self._answers
        key = (query, kind, k)
        if key in answers:
            return list(answers[key])
        found = self._query(collection, query, kind, min(k, total))
        if len(answers) >= self.MAX_CACHED_ANSWERS:
            answers.clear()
        answers[key] = found
        return list(found)

    def _query(self, collection: Any, query: str, kind: str | None, n: int) -> list[Asset]:
        result = collection.query(
            query_texts=[query],
            n_results=n,
            where={"kind": kind} if kind else None,
            include=["metadatas", "distances"],
        )
        metadatas = (result.get("metadatas") or [[]])[0]
        return [
            Asset(
                title=str(meta.get("title", "")),
                kind=str(meta.get("kind", "")),
                path=str(meta.get("path", "")),
                summary=str(meta.get("summary", "")),
            )
            for meta in metadatas
            if meta
        ]
