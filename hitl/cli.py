"""The `hitl` command line. Heavy libraries are imported inside commands so `--help` is fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Human-in-the-loop revenue assistant: signals in, why-now packages and drafts out, "
         "people approve.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings(**overrides: object):  # type: ignore[no-untyped-def]
    from hitl.settings import ConfigError, load_settings

    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _runtime(settings):  # type: ignore[no-untyped-def]
    from agent.policy import PolicyFileError
    from service.runtime import build_runtime

    try:
        return build_runtime(settings)
    except PolicyFileError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    dev: Annotated[bool, typer.Option(
        "--dev", help="Development mode: loopback only, no API token required.")] = False,
) -> None:
    """Run the HTTP API, the Slack endpoint and the background worker."""
    settings = _settings()
    if dev:
        host = "127.0.0.1"
    elif not settings.api_token:
        typer.secho("HITL_API_TOKEN is not set: refusing to serve the API without a token "
                    "(use `hitl serve --dev` for a loopback-only development server).",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    import uvicorn

    from api.app import create_app
    from service.worker import Worker

    rt = _runtime(settings)
    rt.db.upgrade()
    application = create_app(rt, worker=Worker(rt))
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.command()
def demo(
    workdir: Annotated[Path | None, typer.Option(
        help="Keep the demo's database and Chroma here (default: a fresh temporary folder).")]
    = None,
) -> None:
    """Offline end-to-end walkthrough on the embedded defaults (no keys, no network)."""
    from hitl.demo import run_demo

    raise typer.Exit(run_demo(workdir))


@app.command()
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
    rt = _runtime(_settings())
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


@app.command()
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

    rt = _runtime(_settings())
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


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    settings = _settings()
    from store.db import Database

    Database(settings.database_url).upgrade()
    typer.echo(f"database at {settings.database_url.split('@')[-1]} is up to date")


def main() -> None:
    app(prog_name="hitl")


if __name__ == "__main__":
    main()
