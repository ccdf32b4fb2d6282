"""The one Markdown indexer behind the content library and the knowledge base: folders of
Markdown files (`tools.markdown_files`) mirrored into a Chroma collection that is rebuilt when its
embedding space changes.

`MarkdownIndex` walks a folder, parses each file, upserts the records of new or changed files,
deletes those of removed ones, and re-indexes a watched folder when its files change; a subclass
says what a file parses to and which records (one per file, or one per section) it is stored as.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlparse

from tools.markdown_files import FolderWatch, MarkdownDoc, folder_signature, read_folder

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Documents, EmbeddingFunction

    from config.settings import Settings

log = logging.getLogger(__name__)


class MarkdownIndexError(RuntimeError):
    """An index cannot be opened or a folder cannot be indexed (message is safe to show)."""


def open_chroma(settings: Settings) -> ClientAPI:
    """A Chroma client: the server at `HITL_CHROMA_URL` if set, else the embedded folder."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise MarkdownIndexError(
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
            raise MarkdownIndexError(
                f"cannot reach the Chroma server at {settings.chroma_url}: {type(exc).__name__}"
            ) from exc
    path = Path(settings.chroma_path)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class SignedCollection:
    """A Chroma collection tagged with its embedding function's signature: opened lazily, and
    recreated empty when it was built with other embeddings (vectors of different models
    cannot be compared; the collection only indexes Markdown files, so it can start again)."""

    def __init__(self, client: ClientAPI, embedding_function: EmbeddingFunction[Documents],
                 name: str, *, what: str, reindex_hint: str) -> None:
        # tools.embeddings imports chromadb: loaded when a collection is made, not on import.
        from tools.embeddings import embedding_signature

        self.client = client
        self.embedding_function = embedding_function
        self.name = name
        self.signature = embedding_signature(embedding_function)
        self.lock = threading.RLock()
        self._what = what
        self._hint = reindex_hint
        self._collection: Collection | None = None

    def open(self) -> Collection:
        """The collection, created if missing; rebuilt if it holds another embedding space."""
        cached = self._collection
        if cached is not None:
            return cached
        with self.lock:
            if self._collection is not None:
                return self._collection
            metadata = {"embedding_signature": self.signature}
            collection: Collection | None = None
            try:
                collection = self.client.get_or_create_collection(
                    self.name, embedding_function=self.embedding_function,  # type: ignore[arg-type]
                    metadata=metadata)
                if (collection.metadata or {}).get("embedding_signature") != self.signature:
                    collection = None
            except ValueError as exc:
                # Chroma refuses to open a collection persisted with another embedding function.
                log.info("%s %s: %s", self._what, self.name, exc)
            if collection is None:
                log.warning("%s %r was built with other embeddings; recreating it empty "
                            "(run `%s` to re-index)", self._what, self.name, self._hint)
                self.client.delete_collection(self.name)
                collection = self.client.get_or_create_collection(
                    self.name, embedding_function=self.embedding_function,  # type: ignore[arg-type]
                    metadata=metadata)
            self._collection = collection
            return collection


Doc = TypeVar("Doc", bound=MarkdownDoc)
# One vector in the collection: (id, the text embedded, metadata).
Record = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Mirrored(Generic[Doc]):
    """What mirroring one folder did."""

    files: dict[str, Doc]  # every file that parsed, by file key
    changed: int  # files new or changed, re-embedded
    removed: int  # files gone from the folder, deleted
    skipped: list[str]  # "relpath: why" of each file that did not parse


class MarkdownIndex(Generic[Doc]):
    """Folders of Markdown files mirrored into one Chroma collection (a subclass says what a file
    parses to and which records it is stored as), and watched so that a search picks up a new,
    changed or removed file without a restart."""

    what = "markdown index"  # in log lines
    reindex_hint = ""  # the command that re-indexes, named when the collection is rebuilt
    default_collection = "markdown-index"
    # How often the collection is asked which folders it holds (a folder another process
    # indexed, e.g. `hitl content add` or `hitl kb add`, is watched from then on).
    FOLDERS_TTL_S = 60.0

    def __init__(self, client: ClientAPI, embedding_function: EmbeddingFunction[Documents],
                 collection: str | None = None) -> None:
        self._store = SignedCollection(client, embedding_function,
                                       collection or self.default_collection,
                                       what=self.what, reindex_hint=self.reindex_hint)
        self._lock = self._store.lock
        # The folders mirrored here (indexed by this process, named in the settings, or indexed
        # by another process), re-indexed before a search when a file in them was added,
        # changed or removed: checked at most every `watch.check_every_s` seconds.
        self.watch = FolderWatch()
        self._folders_listed_at: float | None = None

    # -- what each index says ---------------------------------------------------------------

    def parse(self, text: str, relpath: str) -> Doc:
        """One file's text parsed; ValueError says what is wrong with it."""
        raise NotImplementedError

    def records(self, file_key: str, doc: Doc) -> list[Record]:
        """The vectors one file is stored as (`content_hash` and `source_folder` are added)."""
        raise NotImplementedError

    def file_key_of(self, record_id: str, meta: dict[str, Any]) -> str:
        """The file a stored record came from (one record per file: its id)."""
        return record_id

    # -- collection -------------------------------------------------------------------------

    @property
    def embedding_function(self) -> EmbeddingFunction[Documents]:
        """The function the collection's vectors come from (queries must use it too)."""
        return self._store.embedding_function

    def _open(self) -> Collection:
        return self._store.open()

    def count(self) -> int:
        """How many records are indexed (all folders): assets, or sections of articles."""
        return self._open().count()

    # -- indexing ---------------------------------------------------------------------------

    def mirror(self, path: Path) -> Mirrored[Doc]:
        """Mirror the Markdown files under `path` (recursively) into the collection.

        Unchanged files (same relative path and content hash) are not re-embedded; files no
        longer in the folder are removed; files that cannot be parsed are skipped and logged."""
        folder = Path(path)
        if not folder.is_dir():
            raise MarkdownIndexError(f"{folder}: not a folder")
        source = str(folder.resolve())
        prefix = hashlib.blake2b(source.encode("utf-8"), digest_size=6).hexdigest()
        signature = folder_signature(folder)  # before reading: a save meanwhile shows next time
        parsed, skipped = read_folder(folder, self.parse, what=self.what)
        files = {f"{prefix}:{relpath}": doc for relpath, doc in parsed.items()}

        with self._lock:
            collection = self._open()
            stored = self._stored(collection, source, prefix)
            changed = {key: doc for key, doc in files.items()
                       if stored.get(key, (None, []))[0] != doc.content_hash}
            records = [(record_id, text, {**meta, "content_hash": doc.content_hash,
                                          "source_folder": source})
                       for key, doc in changed.items()
                       for record_id, text, meta in self.records(key, doc)]
            kept = {record[0] for record in records}
            stale = [record_id for key, (_, ids) in stored.items()
                     if key not in files or key in changed
                     for record_id in ids if record_id not in kept]
            if stale:
                collection.delete(ids=stale)
            if records:
                ids, documents, metadatas = map(list, zip(*records, strict=True))
                collection.upsert(ids=ids, documents=documents, metadatas=metadatas)
        self.watch.watch(folder, signature)
        removed = sum(1 for key in stored if key not in files)
        log.info("%s: %s: %d files (%d new or changed, %d removed)",
                 self.what, folder, len(files), len(changed), removed)
        return Mirrored(files=files, changed=len(changed), removed=removed, skipped=skipped)

    def _stored(self, collection: Collection, source: str, prefix: str
                ) -> dict[str, tuple[str | None, list[str]]]:
        """(content hash, record ids) of each file from the folder `source` in the collection."""
        # The knowledge base used to store `prefix` as source_folder: such records are found
        # too, with no hash, so that they are written again under the folder's path.
        got = collection.get(where={"source_folder": {"$in": [source, prefix]}},  # type: ignore[dict-item]
                             include=["metadatas"])
        stored: dict[str, tuple[str | None, list[str]]] = {}
        for record_id, found in zip(got["ids"], got["metadatas"] or [], strict=False):
            meta = dict(found or {})
            digest = meta.get("content_hash") if meta.get("source_folder") == source else None
            file_key = self.file_key_of(record_id, meta)
            stored.setdefault(file_key, (None if digest is None else str(digest), []))[1].append(
                record_id)
        return stored

    def index_folder(self, path: Path) -> Any:
        """Mirror `path` (`mirror`); what it returns is the subclass's."""
        return self.mirror(path)

    def watch_folder(self, path: Path) -> None:
        """Mirror `path` from the next search on (indexed then, and again whenever it changes)."""
        self.watch.watch(Path(path))

    def refresh(self) -> int:
        """Re-index the watched folders whose Markdown files changed; how many were."""
        now = time.monotonic()
        listed = self._folders_listed_at
        if listed is None or now - listed >= self.FOLDERS_TTL_S:
            self._folders_listed_at = now
            self._watch_known_folders()
        changed = self.watch.due(now)
        for folder, signature in changed:
            try:
                self.index_folder(folder)
            except MarkdownIndexError as exc:  # the folder went away: keep what is indexed
                log.warning("%s: %s", self.what, exc)
                self.watch.watch(folder, signature)
        return len(changed)

    def _watch_known_folders(self) -> None:
        """Watch every folder the collection holds files from (indexed by any process)."""
        try:
            metas = self._open().get(include=["metadatas"]).get("metadatas") or []
        except Exception:  # a search without the reload beats no search
            log.warning("%s: cannot list its folders", self.what, exc_info=True)
            return
        watched = set(self.watch.folders())
        for name in {str((m or {}).get("source_folder") or "") for m in metas} - {""}:
            path = Path(name)
            if path.is_dir() and path.resolve() not in watched:
                self.watch.watch(path, folder_signature(path))
