"""`hitl content ...`: the sales content library (talk tracks, case studies, playbooks) from the
command line.

Registered in `hitl/cli.py` (`app.add_typer(content_app, name="content")`). Heavy libraries
(Chroma, the embeddings) are imported inside the command, so `hitl --help` stays fast. A running
`hitl serve` picks the folder up without a restart: the library watches every folder it holds
assets from (and HITL_CONTENT_PATH), re-indexing one when a file in it changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hitl.commands._markdown_folder import markdown_folder_app

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.types import Documents, EmbeddingFunction

    from tools.content_library import ContentLibrary


def _open_library(client: ClientAPI, embedding_function: EmbeddingFunction[Documents]
                  ) -> ContentLibrary:
    from tools.content_library import ContentLibrary

    return ContentLibrary(client, embedding_function)


def _report(path: Path, library: ContentLibrary, count: int) -> int:
    typer.echo(f"{path}: {count} assets indexed; the content library holds {library.count()} "
               "assets (a running `hitl serve` picks up changes in this folder by itself)")
    return count


content_app = markdown_folder_app(
    help="The sales content library (assets the context package recommends to reps).",
    add_help="Index a folder of Markdown assets into the content library (re-running it updates\n"
             "changed assets and removes deleted ones).",
    folder_help="A folder of Markdown assets with front matter (searched recursively).",
    open_index=_open_library, report=_report)
