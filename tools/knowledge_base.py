"""The support knowledge base: Markdown help-center articles, chunked by section and searchable
in Chroma (its own collection, "knowledge-base", next to the content library).

Each article is one Markdown file with a front matter block (`---` YAML or `+++` TOML,
`tools.markdown_files`):

    ---
    title: Resetting your password and fixing login problems
    category: account_access
    tags: [password, login, 2fa]
    summary: How to reset a forgotten password and recover two-factor access.
    ---

`KnowledgeBase.index_folder` mirrors a folder into the collection (`tools.markdown_index`: one
vector per `##` section, unchanged articles skipped by content hash, deleted files removed);
`search` returns the best
articles for a question with the passage that matched and its cosine similarity (1 - distance),
which the conversation compares with the policy's threshold. Embeddings come from the same
function as the content library (`tools.embeddings`): offline hashing or an OpenAI endpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.support.models import ArticleRef, KbMatch
from tools.markdown_files import MarkdownDoc, read_doc, title_from_path
from tools.markdown_index import MarkdownIndex, MarkdownIndexError, Record

__all__ = ["DEFAULT_COLLECTION", "Article", "IndexReport", "KnowledgeBase", "KnowledgeBaseError",
           "Section", "best_passage", "parse_article"]

DEFAULT_COLLECTION = "knowledge-base"
_MAX_EMBED_CHARS = 4000
_MAX_PASSAGE_CHARS = 3000
_HEADING = re.compile(r"^#{2,3}\s+(.+?)\s*#*\s*$")
_CATEGORY = re.compile(r"^[a-z0-9_]{2,40}$")

# The name this module's callers know; one error for every Markdown index and for Chroma.
KnowledgeBaseError = MarkdownIndexError


@dataclass(frozen=True)
class Section:
    heading: str | None
    text: str


@dataclass(frozen=True)
class Article(MarkdownDoc):
    """One parsed Markdown article."""

    category: str

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
    meta, doc = read_doc(text, relpath, front_matter_required=False,
                         untitled=title_from_path(relpath).capitalize())
    if not doc.body:
        raise ValueError("the article has no text")
    category = str(meta.get("category") or "general").strip().lower().replace("-", "_")
    if not _CATEGORY.match(category):
        raise ValueError(f"category must be a short lower_case word, got {category!r}")
    return Article(**vars(doc), category=category)


@dataclass(frozen=True)
class IndexReport:
    articles: int
    sections: int
    changed: int
    removed: int
    skipped: list[str]


class KnowledgeBase(MarkdownIndex[Article]):
    """Help-center articles in one Chroma collection, one vector per section."""

    what = "knowledge base"
    reindex_hint = "hitl kb add PATH"
    default_collection = DEFAULT_COLLECTION

    def parse(self, text: str, relpath: str) -> Article:
        return parse_article(text, relpath)

    def records(self, file_key: str, doc: Article) -> list[Record]:
        return [(f"{file_key}#{i}", doc.embedding_text(section), {
            "article_key": file_key, "title": doc.title, "category": doc.category,
            "path": doc.relpath, "section": section.heading or "", "passage": section.text,
            "tags": ",".join(doc.tags),
        }) for i, section in enumerate(doc.sections())]

    def file_key_of(self, record_id: str, meta: dict[str, Any]) -> str:
        return str(meta.get("article_key"))

    def articles(self) -> int:
        """Indexed articles (all folders)."""
        got = self._open().get(include=["metadatas"])
        return len({(m or {}).get("article_key") for m in got["metadatas"] or []})

    def index_folder(self, path: Path) -> IndexReport:
        """Mirror the Markdown articles under `path` (recursively) into the knowledge base
        (`MarkdownIndex.mirror`); files that cannot be parsed are listed in the report."""
        done = self.mirror(path)
        return IndexReport(articles=len(done.files),
                           sections=sum(len(a.sections()) for a in done.files.values()),
                           changed=done.changed, removed=done.removed, skipped=done.skipped)

    # -- search -----------------------------------------------------------------------------

    def embed(self, texts: list[str]) -> list[np.ndarray]:
        """Embeddings of `texts` in the knowledge base's space (one call to the endpoint)."""
        if not texts:
            return []
        vectors = self.embedding_function([t or " " for t in texts])
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
