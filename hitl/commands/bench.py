"""`hitl bench`: speed-to-lead and trust measured on the real server (bench/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def bench(
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON (stdout).")]
    = False,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Small sizes for every phase (a smoke run, not a measurement).")] = False,
    events: Annotated[int, typer.Option(min=10, help="Events for the ingest phase.")] = 20_000,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Events per batch POST.")]
    = 1000,
    ingest_clients: Annotated[int, typer.Option(min=1, max=64,
                                                help="Concurrent ingest clients.")] = 4,
    latency: Annotated[float, typer.Option(
        min=0, help="Fake model latency (s) for the card-overhead phase.")] = 0.25,
    card_leads: Annotated[int | None, typer.Option(
        min=1, help="Hand-raises for the card-overhead phase [default: 200, quick 20].")] = None,
    card_rate: Annotated[float, typer.Option(min=0.1, help="Hand-raises per second.")] = 20.0,
    llm_leads: Annotated[int | None, typer.Option(
        min=1, help="Leads at 1 s model latency [default: 10, quick 2].")] = None,
    burst: Annotated[int | None, typer.Option(
        min=1, help="Hand-raises in the concurrency burst [default: 100, quick 20].")] = None,
    interactions: Annotated[int | None, typer.Option(
        min=1, help="Concurrent Slack clicks (and as many API decisions) [default: 50, "
                    "quick 10].")] = None,
    history: Annotated[int, typer.Option(min=2, max=5000,
                                         help="Events in the long-history lead.")] = 500,
    postgres: Annotated[str | None, typer.Option(
        help="Scale-out mode: a PostgreSQL URL the bench may create a database on "
             "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres).")] = None,
    replicas: Annotated[int, typer.Option(min=1, max=8,
                                          help="`hitl serve` processes (one port each).")] = 1,
    worker_threads: Annotated[int | None, typer.Option(
        min=1, max=256, help="HITL_WORKER_THREADS for the servers [default: the product's].")]
    = None,
    worker_processes: Annotated[int, typer.Option(
        min=1, max=16, help="Worker children per server (HITL_WORKER_PROCESSES).")] = 1,
    embeddings: Annotated[str, typer.Option(
        help="HITL_EMBEDDINGS for the servers: local, or openai (the fake's /embeddings).")]
    = "local",
    workdir: Annotated[Path | None, typer.Option(
        help="Keep the run's files here (default: a temporary folder, removed).")] = None,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the temporary folder and the PostgreSQL database.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 when a goal is missed (correctness checks always do).")]
    = False,
) -> None:
    """Measure speed-to-lead and trust on the real server code path, beside naive baselines.

    Runs `hitl serve` on the embedded defaults in a temporary folder (SQLite, embedded Chroma
    with the shipped content library), with local fakes: an OpenAI-compatible model whose
    latency is set per phase, the Slack Web API, and an SMTP sink.

    With --postgres URL --replicas N: N servers on one new PostgreSQL database and a Chroma
    server. Prints each figure with its goal, pass/fail, naive baseline and method.
    """
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.runner import BenchConfig, run_bench

    if embeddings not in ("local", "openai"):
        typer.secho("--embeddings must be local or openai", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    config = BenchConfig(
        events=events, batch_size=batch_size, ingest_clients=ingest_clients, latency=latency,
        card_leads=card_leads, card_rate=card_rate, llm_leads=llm_leads, burst=burst,
        interactions=interactions, history=history, postgres=postgres, replicas=replicas,
        worker_threads=worker_threads, worker_processes=worker_processes, embeddings=embeddings,
        workdir=workdir, keep=keep, quick=quick)
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("bench", total=1.0)

        def report_progress(description: str, done: float) -> None:
            progress.update(task, description=description, completed=done)

        try:
            report = run_bench(config, report_progress)
        except Exception as exc:
            progress.stop()
            typer.secho(f"bench failed: {type(exc).__name__}: {exc}", fg=typer.colors.RED,
                        err=True)
            raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        report.render(Console(width=None if Console().is_terminal else 140))
    missed = [f.key for f in report.figures.values() if f.passed is False]
    if not report.ok or (strict and missed):
        raise typer.Exit(1)
