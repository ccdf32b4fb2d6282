"""`hitl demo`, `hitl ingest`, `hitl tune`, `hitl db upgrade`: one-shot data commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hitl.commands._common import runtime_or_exit, settings_or_exit


def demo(
    workdir: Annotated[Path | None, typer.Option(
        help="Keep the demo's database and Chroma here (default: a fresh temporary folder).")]
    = None,
) -> None:
    """Offline end-to-end walkthrough on the embedded defaults (no keys, no network)."""
    from hitl.demo import run_demo

    raise typer.Exit(run_demo(workdir))


def ingest(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="Events as JSONL (one event a line) or CSV.")],
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 500,
    process: Annotated[bool, typer.Option(
        help="Also process the events now (qualify, route, draft) instead of leaving them "
             "to a running `hitl serve`.")] = True,
) -> None:
    """Load events from a file: every line is validated first; nothing is stored if any fails."""
    from rich.progress import Progress

    from hitl.event_files import EventFileError, read_events
    from service.ingest import ingest_events

    try:
        events = read_events(path)
    except EventFileError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    rt = runtime_or_exit(settings_or_exit())
    rt.db.upgrade()
    accepted = duplicates = 0
    with Progress() as progress:
        task = progress.add_task("ingesting", total=len(events))
        for start in range(0, len(events), batch_size):
            chunk = events[start:start + batch_size]
            result = ingest_events(rt, chunk)
            accepted += result.accepted
            duplicates += result.duplicates
            progress.advance(task, len(chunk))
    typer.echo(f"accepted {accepted}, duplicates {duplicates}")
    if process and accepted:
        from service.worker import Worker

        worker = Worker(rt)
        with Progress() as progress:
            progress.add_task("processing (qualify, route, draft)", total=None)
            worker.run_until_idle(timeout=3600)
        worker.stop()
        typer.echo("processed")


def tune(
    out: Annotated[Path, typer.Option(help="Where to write the proposed policy file.")] =
    Path("policy.proposed.toml"),
    since_days: Annotated[int, typer.Option(min=1, help="Look back this many days.")] = 90,
    min_cases: Annotated[int, typer.Option(min=1, help="Evidence needed for a change.")] = 10,
) -> None:
    """Propose policy threshold and weight changes from dispositions and outcomes.

    Writes a proposed policy file and prints its diff with the evidence; applies nothing.
    """
    from service.tuning import propose

    rt = runtime_or_exit(settings_or_exit())
    proposal = propose(rt, since_days=since_days, min_cases=min_cases)
    typer.echo("Outcomes by band (cases, positive rate, wrong-fit rate):")
    for band, o in sorted(proposal.by_band.items()):
        typer.echo(f"  {band:14} {o.cases:5}  {o.positive_rate:6.0%}  {o.wrong_fit_rate:6.0%}")
    typer.echo("Outcomes by strongest signal:")
    for key, o in sorted(proposal.by_signal.items()):
        typer.echo(f"  {key:22} {o.cases:5}  {o.positive_rate:6.0%}")
    if not proposal.changes:
        typer.echo(f"No change proposed (each needs at least {min_cases} cases of evidence).")
        return
    for change in proposal.changes:
        typer.echo(f"- {change.path}: {change.old:g} -> {change.new:g}  ({change.evidence})")
    out.write_text(proposal.proposed_text)
    typer.echo(f"\nProposed policy written to {out} (not applied). Diff:\n\n{proposal.diff}")


def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    config = settings_or_exit()
    from store.db import Database

    Database(config.database_url).upgrade()
    typer.echo(f"database at {config.database_url.split('@')[-1]} is up to date")
