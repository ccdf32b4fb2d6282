"""`hitl --version`: the installed package's version (importlib.metadata, no heavy imports)."""

from __future__ import annotations

from typing import Annotated

import typer

PACKAGE = "hitl-handoff"


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        typer.echo(f"hitl {version(PACKAGE)}")
    except PackageNotFoundError:  # run from a checkout that was never installed
        typer.echo("hitl (not installed: version unknown)")
    raise typer.Exit()


def main_callback(
    show_version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", is_eager=True,
        callback=_print_version)] = False,
) -> None:
    """Human-in-the-loop revenue assistant: signals in, why-now packages and drafts out,
    people approve."""
