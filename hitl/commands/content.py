"""`hitl content ...`: the sales content library (talk tracks, case studies, playbooks) from the
command line.

Registered in `hitl/cli.py` (`app.add_typer(content_app, name="content")`). Heavy libraries
(Chroma, the embeddings) are imported inside the command, so `hitl --help` stays fast. A running
`hitl serve` picks the folder up without a restart: the library watches every folder it holds
assets from (and HITL_CONTENT_PATH), re-indexing one when a file in it changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

content_app = typer.Typer(help="The sales content library (assets the context package "
                               "recommends to reps).", no_args_is_help=True)


@content_app.command("add")
def content_add(
    path: Annotated[Path, typer.Argument(exists=True, file_okay=False, dir_okay=True,
                                         readable=True,
                                         help="A folder of Markdown assets with front matter "
                                              "(searched recursively).")],
) -> None:
    """Index a folder of Markdown assets into the content library (re-running it updates
    changed assets and removes deleted ones)."""
    from rich.progress import Progress

    from hitl.commands._common import settings_or_exit

    settings = settings_or_exit()
    from tools.content_library import ContentLibrary, ContentLibraryError, open_chroma
    from tools.embeddings import EmbeddingError, build_embedding_function

    try:
        with Progress(transient=True) as progress:
            progress.add_task(f"indexing {path} ({settings.embeddings_mode} embeddings)",
                              total=None)
            library = ContentLibrary(open_chroma(settings), build_embedding_function(settings))
            count = library.index_folder(path)
    except (ContentLibraryError, EmbeddingError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{path}: {count} assets indexed; the content library holds {library.count()} "
               "assets (a running `hitl serve` picks up changes in this folder by itself)")
    if count == 0:
        raise typer.Exit(1)
