"""The `hitl` command line. Heavy libraries are imported inside commands so `--help` is fast."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from hitl.ops_cli import jobs_app, outbox_app
from service.support_cli import kb_app

app = typer.Typer(
    help="Human-in-the-loop revenue assistant: signals in, why-now packages and drafts out, "
         "people approve.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")
app.add_typer(outbox_app, name="outbox")
app.add_typer(jobs_app, name="jobs")


class WorkerMode(StrEnum):
    process = "process"
    inline = "inline"
    none = "none"


def _limit_malloc_arenas() -> None:
    from hitl.worker_process import limit_malloc_arenas

    limit_malloc_arenas()


def _freeze_startup_objects() -> None:
    from hitl.worker_process import freeze_startup_objects

    freeze_startup_objects()


def _claim(rt, *roles: str) -> list[Any]:  # type: ignore[no-untyped-def]
    """One `hitl serve` / `hitl worker` per SQLite file (see store.db.ProcessLock): hold the
    roles' locks for the life of this process, or exit naming the process that holds them."""
    from store.db import DatabaseInUse

    try:
        return [lock for role in roles if (lock := rt.db.claim(role)) is not None]
    except DatabaseInUse as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def _share_metrics_with_children() -> None:
    """Count metrics in files every process of this server writes (prometheus_client's
    multiprocess mode, see service.metrics); must run before prometheus_client is imported,
    so nothing is imported here that imports it. A fresh folder per
    start: values left by an earlier run must not be added to this one's."""
    import atexit
    import os
    import shutil
    import tempfile

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # the operator chose a folder (and cleans it between runs, per the docs)
    folder = tempfile.mkdtemp(prefix="hitl-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    atexit.register(shutil.rmtree, folder, True)


def _settings(**overrides: object):  # type: ignore[no-untyped-def]
    from config.settings import ConfigError, load_settings

    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _runtime(settings):  # type: ignore[no-untyped-def]
    from agent.policy import PolicyFileError
    from hitl.wiring import build_runtime

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
    worker: Annotated[WorkerMode, typer.Option(
        help="Where the background worker runs: a supervised child process (uses a second "
             "core), threads in this process, or none (run `hitl worker` elsewhere).")]
    = WorkerMode.process,
    worker_processes: Annotated[int, typer.Option(
        min=1, max=16, envvar="HITL_WORKER_PROCESSES",
        help="With --worker process: how many worker children (each its own core and memory, "
             "about 240 MB).")] = 1,
) -> None:
    """Run the HTTP API, the Slack endpoint and the background worker."""
    _limit_malloc_arenas()
    if worker is WorkerMode.process:
        _share_metrics_with_children()
    settings = _settings()
    if dev:
        host = "127.0.0.1"
    elif not settings.api_token:
        typer.secho("HITL_API_TOKEN is not set: refusing to serve the API without a token "
                    "(use `hitl serve --dev` for a loopback-only development server).",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    rt = _runtime(settings)
    locks = _claim(rt, "server", *(("worker",) if worker is not WorkerMode.none else ()))
    rt.db.upgrade()
    from service.readiness import Readiness

    readiness = Readiness(rt.db)  # before any worker of ours can poll
    background: Any = None
    if worker is WorkerMode.process:
        from hitl.worker_process import WorkerProcesses

        background = WorkerProcesses(rt, worker_processes)
        # Now, not in the app's lifespan: the child's imports and warm-up (the longer part of
        # a start) run on the other core while this process imports the web stack.
        background.start()
    elif worker is WorkerMode.inline:
        from service.worker import Worker

        background = Worker(rt)
    import uvicorn

    from api.app import create_app

    application = create_app(rt, worker=background, readiness=readiness)
    application.state.process_locks = locks
    _freeze_startup_objects()
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.command("worker")
def worker_command(
    threads: Annotated[int | None, typer.Option(
        min=1, max=256, help="Job threads (default HITL_WORKER_THREADS).")] = None,
) -> None:
    """Run the background worker alone: drafting, Slack posts, sends, SLA timers.

    `hitl serve` starts one for you; run it yourself beside `hitl serve --worker none` replicas
    (PostgreSQL: any number of workers; SQLite: exactly one)."""
    import logging

    from hitl.worker_process import run_worker_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    _limit_malloc_arenas()
    rt = _runtime(_settings())
    locks = _claim(rt, "worker")  # noqa: F841  (held until the process ends)
    rt.db.upgrade()
    run_worker_forever(rt, threads, before_start=_freeze_startup_objects)


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



# -- reports: `hitl eval` and `hitl report` (evals/) ------------------------------------------


def _progress_bar():  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<42.42}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), transient=False)


_EVAL_HELP = (
    "Evaluate routing, packages and drafts on the known cases and apply the CI gate.\n\n"
    "Runs the lead and support-conversation datasets in evals/datasets/ through the real "
    "policy, context, drafting and graph code, scores them against their expectations, compares "
    "the scores with evals/thresholds.toml and writes a self-contained HTML page, JSON and a "
    "Markdown summary. Works offline on the embedded defaults."
)
_REPORT_HELP = (
    "Production KPIs from the store at HITL_DATABASE_URL: speed to lead, SLA, approvals, edits."
    "\n\n"
    "Speed (signal -> card -> decision -> send, p50/p90), SLA attainment, approved as-is next "
    "to edited, edit distance and common edit patterns, escalations, rejections by reason code, "
    "recycling and return to intent, meetings set and support transfers, by week, route, band, "
    "rep, prompt version and policy version. Writes a self-contained HTML page, JSON and a "
    "Markdown summary. Works on an empty store."
)


@app.command("eval", help=_EVAL_HELP)
def eval_command(
    out: Annotated[Path | None, typer.Option(
        "--out", file_okay=False,
        help="Also write eval-report.html, eval-report.json and eval-summary.md into this "
             "folder.")] = None,
    baseline: Annotated[str | None, typer.Option(
        "--baseline", metavar="RUN",
        help="Compare with a previous run: its JSON file, its folder, or its run id "
             "(eval-2026...). Regressions are listed first.")] = None,
    graph: Annotated[bool, typer.Option(
        "--graph/--no-graph",
        help="Replay the lead cases through the real graph to prove the approval interrupt "
             "comes before any send (a few seconds).")] = True,
    model_grading: Annotated[bool | None, typer.Option(
        "--model-grading/--no-model-grading",
        help="Model-graded groundedness, tone, relevance and call to action (advisory, never "
             "a gate). Default: on when OPENAI_BASE_URL or OPENAI_API_KEY is set.",
        show_default=False)] = None,
    grade_limit: Annotated[int, typer.Option(
        min=0, help="Model-grade at most this many drafts.")] = 20,
    publish: Annotated[bool, typer.Option(
        "--publish/--no-publish",
        help="Store the run where GET /v1/reports/eval and later --baseline find it.")] = True,
    fail_on_gate: Annotated[bool, typer.Option(
        "--fail-on-gate/--no-fail-on-gate", help="Exit 1 when the gate fails.")] = True,
) -> None:
    """`hitl eval` (help text above)."""
    from evals.cases import DatasetError
    from evals.compare import compare_runs
    from evals.render import render_eval_html, render_eval_markdown
    from evals.report_store import find_run, load_run, reports_root, write_files
    from evals.report_store import publish as publish_run
    from evals.runner import run_eval

    settings = _settings()
    root = reports_root(settings)
    base = None
    if baseline:
        found = find_run(root, "eval", baseline)
        if found is None:
            typer.secho(f"baseline {baseline!r} not found: give a run JSON file, a run folder, "
                        f"or a run id published under {root / 'eval'}", fg=typer.colors.RED,
                        err=True)
            raise typer.Exit(2)
        try:
            base = load_run(found)
        except ValueError as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
    with _progress_bar() as progress:
        task = progress.add_task("starting", total=None)

        def report(done: int, total: int, message: str) -> None:
            progress.update(task, completed=done, total=total, description=message)

        try:
            run = run_eval(settings, graph=graph, model_grading=model_grading,
                           grade_limit=grade_limit, progress=report)
        except DatasetError as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
    comparison = compare_runs(run, base) if base is not None else None
    if comparison is not None:
        run["comparison"] = comparison
    html = render_eval_html(run, comparison)
    markdown = render_eval_markdown(run, comparison)
    written = []
    if out is not None:
        paths = write_files(out, run, html, markdown, prefix="eval-")
        written.append(paths["html"])
    if publish:
        written.append(publish_run(root, "eval", run, html, markdown) / "report.html")
    gate = run["gate"]
    colour = typer.colors.GREEN if gate["passed"] else typer.colors.RED
    typer.secho(f"gate {'passed' if gate['passed'] else 'FAILED'}"
                + (f": below the minimum: {', '.join(gate['failed'])}" if gate["failed"] else ""),
                fg=colour, bold=True)
    metrics = run["metrics"]["all_cases"]
    support = run["sections"]["conversations"]
    if support["available"]:
        scores = support["metrics"]
        support_line = (f"handoff recall {scores['conversation_handoff_recall']}, precision "
                        f"{scores['conversation_handoff_precision']} "
                        f"({'gated' if support.get('gated', True) else 'reported, not gated'})")
    else:
        support_line = support["reason"]
    typer.echo(f"{metrics['passed']}/{metrics['cases']} lead cases pass; "
               f"{len(gate['known_failures'])} known failure(s); support conversations: "
               f"{support_line}")
    if comparison is not None:
        typer.echo(f"vs {comparison['baseline_run_id']}: {len(comparison['regressions'])} "
                   f"regressions, {len(comparison['improvements'])} improvements")
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"run id {run['run_id']}")
    if fail_on_gate and not gate["passed"]:
        raise typer.Exit(1)


@app.command("report", help=_REPORT_HELP)
def report_command(
    out: Annotated[Path | None, typer.Option(
        "--out", file_okay=False,
        help="Also write kpi-report.html, kpi-report.json and kpi-summary.md into this "
             "folder.")] = None,
    days: Annotated[int, typer.Option(
        min=0, help="Report on the last DAYS days (0: all time).")] = 90,
    weeks: Annotated[int, typer.Option(
        min=1, max=104, help="Weeks shown in the weekly trends.")] = 12,
    slack_channel: Annotated[str | None, typer.Option(
        "--slack-channel", metavar="CHANNEL",
        help="Also post the summary to this Slack channel id (needs SLACK_BOT_TOKEN; uses "
             "SLACK_API_URL).")] = None,
    publish: Annotated[bool, typer.Option(
        "--publish/--no-publish",
        help="Store the report where GET /v1/reports/kpi finds it.")] = True,
    style_examples: Annotated[bool, typer.Option(
        "--style-examples/--no-style-examples",
        help="Refresh the approved-after-edit pairs in Chroma that serve as the drafter's "
             "style examples.")] = True,
) -> None:
    """`hitl report` (help text above)."""
    from evals.kpi import build_kpi_report
    from evals.render import render_kpi_html, render_kpi_markdown
    from evals.report_store import publish as publish_run
    from evals.report_store import reports_root, write_files

    settings = _settings()
    if slack_channel and not settings.slack_bot_token:
        typer.secho("--slack-channel needs SLACK_BOT_TOKEN", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    rt = _runtime(settings)
    try:
        rt.db.upgrade()
        with _progress_bar() as progress:
            task = progress.add_task("reading the store", total=4)

            def step(message: str) -> None:
                progress.update(task, advance=1, description=message)

            run = build_kpi_report(rt, days=days or None, weeks=weeks, progress=step)
            if style_examples:
                progress.update(task, description="style examples (Chroma)")
                try:
                    from tools.style_examples import sync_edit_pairs

                    run["style_examples"] = sync_edit_pairs(rt)
                except Exception as exc:  # the report stands without them
                    run["style_examples"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
            progress.update(task, completed=4, description="done")
    finally:
        rt.close()
    html = render_kpi_html(run)
    markdown = render_kpi_markdown(run)
    written = []
    if out is not None:
        written.append(write_files(out, run, html, markdown, prefix="kpi-")["html"])
    if publish:
        written.append(publish_run(reports_root(settings), "kpi", run, html, markdown)
                       / "report.html")
    typer.echo(markdown.rstrip())
    for path in written:
        typer.echo(f"wrote {path}")
    if slack_channel:
        from evals.slack_post import SlackPostError, post_summary

        try:
            ts = post_summary(settings, slack_channel, markdown,
                              report_path=str(written[-1]) if written else None)
        except SlackPostError as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        typer.echo(f"posted the summary to {slack_channel} (ts {ts})")


@app.command()
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


def main() -> None:
    app(prog_name="hitl")


if __name__ == "__main__":
    main()
