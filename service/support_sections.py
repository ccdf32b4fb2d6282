"""The best section of the best help article for a question (issue 18: the offline answer gives
the steps under the best-matching heading, not the first sentence of whatever section the
search ranked first).

The knowledge base ranks articles by their best-matching section, and an article's untitled
lead-in ("SSO and SCIM are available on the Enterprise plan.") often wins because it carries the
article's title and tags. Here every section of the top article is read back and the one that
answers best is chosen (`agent.support.sections.choose_section`: the embeddings of heading and
text without the shared title, the words the question shares with them, steps preferred).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from agent.support.models import KbMatch
from agent.support.sections import choose_section

if TYPE_CHECKING:
    from tools.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)


def article_sections(kb: KnowledgeBase, match: KbMatch) -> list[tuple[str | None, str]]:
    """(heading, text) of every indexed section of the match's article, in article order.

    Uses `KnowledgeBase.article_sections(path)` when the knowledge base offers it; until then
    the section records of its collection (the metadata `index_folder` writes)."""
    offered = getattr(kb, "article_sections", None)
    if callable(offered):
        return list(offered(match.article.path))
    collection = kb._open()  # noqa: SLF001 - no public per-article read yet (see the report)
    got: Any = collection.get(where={"path": match.article.path}, include=["metadatas"])
    rows = []
    for doc_id, meta in zip(got.get("ids") or [], got.get("metadatas") or [], strict=False):
        if not meta or str(meta.get("title", "")) != match.article.title:
            continue
        order = int(doc_id.rsplit("#", 1)[1]) if "#" in doc_id else 0
        rows.append((order, str(meta.get("section") or "") or None, str(meta.get("passage", ""))))
    return [(heading, text) for _, heading, text in sorted(rows)]


def best_section(kb: KnowledgeBase, question: str, match: KbMatch) -> KbMatch:
    """`match` with the passage and heading of its article's section that answers `question`
    best; `match` unchanged when the article has one section or cannot be read back."""
    try:
        sections = article_sections(kb, match)
        if len(sections) < 2:
            return match
        import numpy as np  # the worker's: the web process imports this module, never runs it

        vectors = kb.embed([question] + [f"{h or ''}\n{h or ''}\n{t}" for h, t in sections])
        similarities = [float(np.dot(vectors[0], v)) /
                        ((float(np.linalg.norm(vectors[0])) or 1.0) * (float(np.linalg.norm(v))
                                                                       or 1.0))
                        for v in vectors[1:]]
        kb_choice = next((i for i, (h, t) in enumerate(sections)
                          if (h or None) == match.article.section and t == match.passage), None)
        chosen = choose_section(question, sections, similarities, kb_choice=kb_choice)
    except Exception:  # the search's own pick is still a grounded answer
        log.exception("could not read the sections of %s", match.article.path)
        return match
    heading, text = sections[chosen]
    return match.model_copy(update={
        "passage": text, "article": match.article.model_copy(update={"section": heading})})
