"""The content library: talk tracks, case studies and playbooks in Markdown, searchable in Chroma.

Each asset is one Markdown file with a small front matter block, YAML between `---` lines or
TOML between `+++` lines (`tools.markdown_files`):

    ---
    title: "Pricing questions: talk track"
    kind: talk_track            # talk_track | case_study | playbook
    tags: [pricing, packaging]
    summary: How to answer "how much does it cost?" on a first call.
    ---

`ContentLibrary.index_folder` mirrors one folder into a Chroma collection, one vector per asset
(`tools.markdown_index.MarkdownIndex`: upsert by relative path, skipped when the content hash is
unchanged, files that disappeared are removed), and `recommend` returns the closest assets to a
query as `Asset`s.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from agent.models import Asset
from tools.markdown_files import MarkdownDoc, read_doc
from tools.markdown_index import MarkdownIndex, MarkdownIndexError, Record, open_chroma

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.types import Documents, EmbeddingFunction

__all__ = ["ASSET_KINDS", "DEFAULT_COLLECTION", "AssetFile", "ContentLibrary",
           "ContentLibraryError", "open_chroma", "parse_asset"]

AssetKind = Literal["talk_track", "case_study", "playbook"]
ASSET_KINDS: tuple[str, ...] = get_args(AssetKind)
DEFAULT_COLLECTION = "content-library"
# What is embedded per asset; the assets are short, so one vector per file.
_MAX_EMBED_CHARS = 6000
_COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9._-]{3,512}$")

# The name this module's callers know; one error for every Markdown index and for Chroma.
ContentLibraryError = MarkdownIndexError


@dataclass(frozen=True)
class AssetFile(MarkdownDoc):
    """One parsed Markdown asset."""

    kind: AssetKind

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
    meta, doc = read_doc(text, relpath, front_matter_required=True)
    kind = str(meta.get("kind", "")).strip()
    if kind not in ASSET_KINDS:
        raise ValueError(f"kind must be one of {', '.join(ASSET_KINDS)}, got {kind!r}")
    return AssetFile(**vars(doc), kind=kind)  # type: ignore[arg-type]


class ContentLibrary(MarkdownIndex[AssetFile]):
    """Sales assets in one Chroma collection, embedded with the given embedding function."""

    what = "content library"
    reindex_hint = "hitl ingest PATH"
    default_collection = DEFAULT_COLLECTION

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
        super().__init__(client, embedding_function, collection)
        self._count_cache: tuple[float, int] | None = None
        # Answers by (query, kind, k), valid as long as the count above: the queries repeat a
        # lot (they are built from band, signal labels, industry and risks, not free text).
        self._answers: dict[tuple[str, str | None, int], list[Asset]] = {}

    def parse(self, text: str, relpath: str) -> AssetFile:
        return parse_asset(text, relpath)

    def records(self, file_key: str, doc: AssetFile) -> list[Record]:
        return [(file_key, doc.embedding_text(), {
            "title": doc.title, "kind": doc.kind, "path": doc.relpath, "summary": doc.summary,
            "tags": ",".join(doc.tags),
        })]

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

    def index_folder(self, path: Path) -> int:
        """Mirror the Markdown assets under `path` into the library (`MarkdownIndex.mirror`);
        returns the number of assets from this folder now in the library."""
        self._count_cache = None
        self._answers = {}
        return len(self.mirror(path).files)

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
