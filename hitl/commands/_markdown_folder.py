"""What `hitl content ...` and `hitl kb ...` share: a command group whose `add PATH` indexes a
folder of Markdown files into one of the Markdown indexes (`tools.markdown_index`) behind a
spinner, with a clear error (exit 1), and exit 1 as well when the folder held nothing to index.
Nothing heavy at module level: `hitl --help` imports this."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.types import Documents, EmbeddingFunction

    from tools.markdown_index import MarkdownIndex

Index = TypeVar("Index", bound="MarkdownIndex[Any]")
# (client, embedding function) -> the index; imports it, so that `hitl --help` stays fast.
OpenIndex = Callable[["ClientAPI", "EmbeddingFunction[Documents]"], Index]
# (PATH, the index, what its index_folder returned) -> files indexed, once it printed them.
Report = Callable[[Path, Index, Any], int]


def markdown_folder_app(*, help: str, add_help: str, folder_help: str,
                        open_index: OpenIndex[Index], report: Report[Index]) -> typer.Typer:
    """A command group with `add PATH`: index the Markdown folder PATH into `open_index(...)`."""
    app = typer.Typer(help=help, no_args_is_help=True)

    # A default, not `Annotated[...]`: the annotation is read from this module's globals, where
    # `folder_help` is not.
    folder = typer.Argument(exists=True, file_okay=False, dir_okay=True, readable=True,
                            help=folder_help)

    @app.command("add", help=add_help)
    def add(path: Path = folder) -> None:
        index_markdown_folder(path, open_index, report)

    return app


def index_markdown_folder(path: Path, open_index: OpenIndex[Index], report: Report[Index]
                          ) -> None:
    """Index `path` into the index `open_index` opens with the settings' Chroma and embeddings;
    `report` prints the outcome (no file indexed: exit 1)."""
    from rich.progress import Progress

    from hitl.commands._common import settings_or_exit

    settings = settings_or_exit()
    from tools.embeddings import EmbeddingError, build_embedding_function
    from tools.markdown_index import MarkdownIndexError, open_chroma

    try:
        with Progress(transient=True) as progress:
            progress.add_task(f"indexing {path} ({settings.embeddings_mode} embeddings)",
                              total=None)
            index = open_index(open_chroma(settings), build_embedding_function(settings))
            outcome = index.index_folder(path)
    except (MarkdownIndexError, EmbeddingError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    if report(path, index, outcome) == 0:
        raise typer.Exit(1)
