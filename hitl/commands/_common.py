"""What every `hitl` command shares: settings and runtime built with a clear error, process
locks, a progress bar. Nothing heavy at module level: `hitl --help` imports this."""

from __future__ import annotations

from typing import Any

import typer


def fail(message: str, code: int = 1) -> None:
    """Print `message` in red on stderr and exit with `code`."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: object):  # type: ignore[no-untyped-def]
    """Settings from the environment, or exit 2 naming what is wrong."""
    from config.settings import ConfigError, load_settings

    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def runtime_or_exit(settings):  # type: ignore[no-untyped-def]
    """The wired runtime (hitl.wiring), or exit 2 when the policy file is bad."""
    from agent.policy import PolicyFileError
    from hitl.wiring import build_runtime

    try:
        return build_runtime(settings)
    except PolicyFileError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def claim_or_exit(rt, *roles: str) -> list[Any]:  # type: ignore[no-untyped-def]
    """One `hitl serve` / `hitl worker` per SQLite file (see store.db.ProcessLock): hold the
    roles' locks for the life of this process, or exit naming the process that holds them."""
    from store.db import DatabaseInUse

    try:
        return [lock for role in roles if (lock := rt.db.claim(role)) is not None]
    except DatabaseInUse as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None



def progress_bar():  # type: ignore[no-untyped-def]
    """A rich progress bar (imported here: rich is not needed for `--help`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<42.42}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), transient=False)

