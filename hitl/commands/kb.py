"""`hitl kb ...`: the support knowledge base from the command line.

Registered in `hitl/cli.py` as a sub-command group (`app.add_typer(kb_app, name="kb")`). Heavy
libraries (Chroma, the embeddings) are imported inside the command, so `hitl --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

kb_app = typer.Typer(help="The support knowledge base (help-center articles the bot answers "
                          "from).", no_args_is_help=True)


@kb_app.command("add")
def kb_add(
    path: Annotated[Path, typer.Argument(exists=True, file_okay=False, dir_okay=True,
                                         readable=True,
                                         help="A folder of Markdown articles (searched "
                                              "recursively).")],
) -> None:
    """Index a folder of Markdown articles into the knowledge base (re-running it updates
    changed articles and removes deleted ones)."""
    from rich.progress import Progress

    from config.settings import ConfigError, load_settings
    from tools.knowledge_base import KnowledgeBaseError

    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    from tools.content_library import ContentLibraryError, open_chroma
    from tools.embeddings import EmbeddingError, build_embedding_function
    from tools.knowledge_base import KnowledgeBase

    try:
        with Progress(transient=True) as progress:
            progress.add_task(f"indexing {path} ({settings.embeddings_mode} embeddings)",
                              total=None)
            kb = KnowledgeBase(open_chroma(settings), build_embedding_function(settings))
            report = kb.index_folder(path)
    except (KnowledgeBaseError, ContentLibraryError, EmbeddingError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    for problem in report.skipped:
        typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"{path}: {report.articles} articles in {report.sections} sections "
               f"({report.changed} new or changed, {report.removed} removed); the knowledge base "
               f"holds {kb.articles()} articles")
    if report.articles == 0:
        raise typer.Exit(1)
