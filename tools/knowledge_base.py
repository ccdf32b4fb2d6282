"""The support knowledge base: Markdown help-center articles, chunked by section and searchable
in Chroma (its own collection, "knowledge-base", next to the content library).

Each article is one Markdown file with a front matter block (`---` YAML or `+++` TOML,
`tools.markdown_index`):

    ---
    title: Resetting your password and fixing login problems
    category: account_access
    tags: [password, login, 2fa]
    summary: How to reset a forgotten password and recover two-factor access.
    ---

`KnowledgeBase.index_folder` mirrors a folder into the collection (one vector per `##` section,
unchanged articles skipped by content hash, deleted files removed); `search` returns the best
articles for a question with the passage that matched and its cosine similarity (1 - distance),
which the conversation compares with the policy's threshold. Embeddings come from the same
function as the content library (`tools.embeddings`): offline hashing or an OpenAI endpoint.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.support.models import ArticleRef, KbMatch
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

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "knowledge-base"
_MAX_EMBED_CHARS = 4000
_MAX_PASSAGE_CHARS = 3000
_HEADING = re.compile(r"^#{2,3}\s+(.+?)\s*#*\s*$")
_CATEGORY = re.compile(r"^[a-z0-9_]{2,40}$")


class KnowledgeBaseError(RuntimeError):
    """The knowledge base cannot be opened or a folder cannot be indexed (safe to show)."""


@dataclass(frozen=True)
class Section:
    heading: str | None
    text: str


@dataclass(frozen=True)
class Article:
    """One parsed Markdown article."""

    relpath: str
    title: str
    category: str
    tags: tuple[str, ...]
    summary: str
    body: str
    content_hash: str

    def sections(self) -> list[Section]:
        """The article split at `##`/`###` headings; text before the first heading is its own
        section when it says anything."""
        out: list[Section] = []
        heading: str | None = None
        lines: list[str] = []

        def flush() -> None:
            text = "\n".join(lines).strip()
            if text:
                out.append(Section(heading, text[:_MAX_PASSAGE_CHARS]))

        for line in self.body.splitlines():
            if line.startswith("# ") and not out and not lines:
                continue  # the article's own title
            match = _HEADING.match(line)
            if match:
                flush()
                heading, lines = match.group(1), []
            else:
                lines.append(line)
        flush()
        return out or [Section(None, self.summary or self.title)]

    def embedding_text(self, section: Section) -> str:
        # Title, tags and summary say what the article is about; the section says which part.
        head = f"{self.title}. {', '.join(self.tags)}. {self.summary}"
        heading = section.heading or ""
        return f"{head}\n{heading}\n{heading}\n{section.text}"[:_MAX_EMBED_CHARS]


def parse_article(text: str, relpath: str) -> Article:
    """Parse one Markdown article; ValueError says what is wrong with it."""
    text = text.lstrip("\ufeff")
    meta, body = split_front_matter(text, required=False)
    body = body.strip()
    if not body:
        raise ValueError("the article has no text")
    title = str(meta.get("title") or "").strip()
    if not title:
        heading = next((ln[2:].strip() for ln in body.splitlines() if ln.startswith("# ")), "")
        title = heading or Path(relpath).stem.replace("-", " ").replace("_", " ").capitalize()
    category = str(meta.get("category") or "general").strip().lower().replace("-", "_")
    if not _CATEGORY.match(category):
        raise ValueError(f"category must be a short lower_case word, got {category!r}")
    tags = tag_list(meta.get("tags"))
    summary = " ".join(str(meta.get("summary") or "").split())[:300]
    return Article(relpath=relpath, title=title, category=category, tags=tags, summary=summary,
                   body=body, content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest())


@dataclass(frozen=True)
class IndexReport:
    articles: int
    sections: int
    changed: int
    removed: int
    skipped: list[str]


def _folder_key(folder: Path) -> str:
    return hashlib.blake2b(str(folder.resolve()).encode("utf-8"), digest_size=6).hexdigest()


class KnowledgeBase:
    """Help-center articles in one Chroma collection, one vector per section."""

    def __init__(self, client: ClientAPI, embedding_function: EmbeddingFunction[Documents],
                 collection: str = DEFAULT_COLLECTION) -> None:
        self._store = SignedCollection(client, embedding_function, collection,
                                       what="knowledge base", reindex_hint="hitl kb add PATH")
        self._lock = self._store.lock
        # The folders mirrored here (by this process or `hitl kb add` in another), re-indexed
        # before a search when an article was added, changed or removed (tools.markdown_index).
        self.watch = FolderWatch()
        self._folders_listed_at: float | None = None

    @property
    def embedding_function(self) -> EmbeddingFunction[Documents]:
        """The function the collection's vectors come from (queries must use it too)."""
        return self._store.embedding_function

    def _open(self) -> Collection:
        return self._store.open()

    def count(self) -> int:
        """Indexed sections (all folders)."""
        return self._open().count()

    def articles(self) -> int:
        """Indexed articles (all folders)."""
        got = self._open().get(include=["metadatas"])
        return len({(m or {}).get("article_key") for m in got["metadatas"] or []})

    # -- indexing ---------------------------------------------------------------------------

    def index_folder(self, path: Path) -> IndexReport:
        """Mirror the Markdown articles under `path` (recursively) into the knowledge base.

        Unchanged articles are not re-embedded; articles no longer in the folder are removed;
        files that cannot be parsed are skipped (listed in the report) and logged.
        """
        folder = Path(path)
        if not folder.is_dir():
            raise KnowledgeBaseError(f"{folder}: not a folder")
        key = _folder_key(folder)
        signature = folder_signature(folder)  # before reading: a save meanwhile shows next time
        parsed, skipped = read_folder(folder, parse_article, what="knowledge base")
        articles = {f"{key}:{relpath}": article for relpath, article in parsed.items()}

        changed = removed = 0
        with self._lock:
            collection = self._open()
            existing = collection.get(where={"source_folder": key}, include=["metadatas"])
            known: dict[str, tuple[str | None, list[str]]] = {}
            for doc_id, meta in zip(existing["ids"], existing["metadatas"] or [], strict=False):
                article_key = str((meta or {}).get("article_key"))
                digest = (meta or {}).get("content_hash")
                entry = known.setdefault(article_key,
                                         (str(digest) if digest is not None else None, []))
                entry[1].append(doc_id)
            stale = [doc_id for article_key, (digest, ids) in known.items()
                     for doc_id in ids
                     if article_key not in articles or articles[article_key].content_hash != digest]
            removed = sum(1 for k in known if k not in articles)
            if stale:
                collection.delete(ids=stale)
            ids: list[str] = []
            documents: list[str] = []
            metadatas: list[dict[str, Any]] = []
            for article_key, article in articles.items():
                if known.get(article_key, (None, []))[0] == article.content_hash:
                    continue
                changed += 1
                for i, section in enumerate(article.sections()):
                    ids.append(f"{article_key}#{i}")
                    documents.append(article.embedding_text(section))
                    metadatas.append({
                        "article_key": article_key, "title": article.title,
                        "category": article.category, "path": article.relpath,
                        "section": section.heading or "", "passage": section.text,
                        "tags": ",".join(article.tags), "content_hash": article.content_hash,
                        "source_folder": key,
                    })
            if ids:
                collection.upsert(ids=ids, documents=documents, metadatas=metadatas)  # type: ignore[arg-type]
        self.watch.watch(folder, signature)
        sections = sum(len(a.sections()) for a in articles.values())
        log.info("knowledge base: %s: %d articles, %d sections (%d new or changed, %d removed)",
                 folder, len(articles), sections, changed, removed)
        return IndexReport(articles=len(articles), sections=sections, changed=changed,
                           removed=removed, skipped=skipped)

    # How often the collection is asked which folders it holds (one `hitl kb add` indexed in
    # another process is watched from then on).
    FOLDERS_TTL_S = 60.0

    def refresh(self) -> int:
        """Re-index the mirrored folders whose articles changed on disk; how many were."""
        now = time.monotonic()
        if self._folders_listed_at is None or now - self._folders_listed_at >= self.FOLDERS_TTL_S:
            self._folders_listed_at = now
            try:
                metas = self._open().get(include=["metadatas"]).get("metadatas") or []
            except Exception:  # a search without the reload beats no search
                log.warning("knowledge base: cannot list its folders", exc_info=True)
                metas = []
            watched = set(self.watch.folders())
            for name in {str((m or {}).get("source_folder") or "") for m in metas} - {""}:
                path = Path(name)
                if path.is_dir() and path.resolve() not in watched:
                    self.watch.watch(path, folder_signature(path))
        changed = self.watch.due(now)
        for folder, signature in changed:
            try:
                self.index_folder(folder)
            except KnowledgeBaseError as exc:  # the folder went away: keep what is indexed
                log.warning("knowledge base: %s", exc)
                self.watch.watch(folder, signature)
        return len(changed)

    # -- search -----------------------------------------------------------------------------

    def embed(self, texts: list[str]) -> list[np.ndarray]:
        """Embeddings of `texts` in the knowledge base's space (one call to the endpoint)."""
        if not texts:
            return []
        vectors = self._store.embedding_function([t or " " for t in texts])
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    def search(self, query: str, *, k: int = 3, vector: np.ndarray | None = None
               ) -> list[KbMatch]:
        """The `k` articles closest to `query`, best first, each with its best-matching section.

        Pass `vector` when the query was already embedded (saves a call to the endpoint).
        """
        if k < 1 or not query.strip():
            return []
        self.refresh()
        collection = self._open()
        total = collection.count()
        if total == 0:
            return []
        if vector is None:
            vector = self.embed([query])[0]
        result = collection.query(query_embeddings=[vector.tolist()],
                                  n_results=min(total, k * 4),
                                  include=["metadatas", "distances"])
        metadatas = (result.get("metadatas") or [[]])[0]
        distances = (result.get("distances") or [[]])[0]
        best: dict[str, KbMatch] = {}
        for meta, distance in zip(metadatas, distances, strict=False):
            if not meta:
                continue
            article_key = str(meta.get("article_key"))
            similarity = round(max(0.0, 1.0 - float(distance)), 4)
            if article_key in best and best[article_key].similarity >= similarity:
                continue
            best[article_key] = KbMatch(
                article=ArticleRef(title=str(meta.get("title", "")), path=str(meta.get("path", "")),
                                   category=str(meta.get("category") or "general"),
                                   section=str(meta.get("section") or "") or None,
                                   similarity=similarity),
                passage=str(meta.get("passage", "")), similarity=similarity)
        return sorted(best.values(), key=lambda m: -m.similarity)[:k]


# -- quoting ----------------------------------------------------------------------------------

def _blocks(passage: str) -> list[str]:
    """Paragraphs, list items and numbered steps of a section, each as one quotable block."""
    blocks: list[str] = []
    current: list[str] = []
    for line in passage.splitlines():
        stripped = line.strip()
        starts_item = bool(re.match(r"^([-*]|\d+\.)\s", stripped))
        if not stripped or starts_item:
            if current:
                blocks.append(" ".join(current))
            current = [stripped] if stripped else []
        else:
            current.append(stripped)
    if current:
        blocks.append(" ".join(current))
    return [b for b in blocks if b]


def best_passage(passage: str, query: str, *, max_chars: int = 700) -> str:
    """The part of a section that answers `query` best: its most similar paragraph (offline
    lexical embeddings), extended with the next one while it fits, never cut mid-sentence."""
    from tools.embeddings import LocalHashingEmbeddings

    blocks = _blocks(passage)
    if not blocks:
        return ""
    ef = LocalHashingEmbeddings()
    q = ef.embed_one(query)
    scores = [float(np.dot(q, ef.embed_one(b))) for b in blocks]
    start = max(range(len(blocks)), key=lambda i: scores[i])
    chosen = [blocks[start]]
    i = start + 1
    while i < len(blocks) and len(" ".join(chosen)) + len(blocks[i]) < max_chars \
            and scores[i] > 0.05:
        chosen.append(blocks[i])
        i += 1
    text = "\n".join(chosen)
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    end = max(cut.rfind(". "), cut.rfind(".\n"))
    return cut[: end + 1] if end > max_chars // 3 else cut.rstrip() + "…"
