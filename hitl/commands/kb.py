"""`hitl kb ...`: the support knowledge base from the command line.

Registered in `hitl/cli.py` as a sub-command group (`app.add_typer(kb_app, name="kb")`). Heavy
libraries (Chroma, the embeddings) are imported inside the command, so `hitl --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hitl.commands._markdown_folder import markdown_folder_app

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.types import Documents, EmbeddingFunction

    from tools.knowledge_base import IndexReport, KnowledgeBase


def _open_knowledge_base(client: ClientAPI, embedding_function: EmbeddingFunction[Documents]
                         ) -> KnowledgeBase:
    from tools.knowledge_base import KnowledgeBase

    return KnowledgeBase(client, embedding_function)


def _report(path: Path, kb: KnowledgeBase, done: IndexReport) -> int:
    for problem in done.skipped:
        typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"{path}: {done.articles} articles in {done.sections} sections "
               f"({done.changed} new or changed, {done.removed} removed); the knowledge base "
               f"holds {kb.articles()} articles")
    return done.articles


kb_app = markdown_folder_app(
    help="The support knowledge base (help-center articles the bot answers from).",
    add_help="Index a folder of Markdown articles into the knowledge base (re-running it updates\n"
             "changed articles and removes deleted ones).",
    folder_help="A folder of Markdown articles (searched recursively).",
    open_index=_open_knowledge_base, report=_report)
