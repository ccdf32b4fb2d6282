"""`hitl serve` and `hitl worker`: the long-running processes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from hitl.commands._common import claim_or_exit, runtime_or_exit, settings_or_exit


class WorkerMode(StrEnum):
    process = "process"
    inline = "inline"
    none = "none"


# Process tuning for the long-running commands; why each is kept: README, "Performance choices".
def _limit_malloc_arenas() -> None:
    from hitl.worker_process import limit_malloc_arenas

    limit_malloc_arenas()


def _freeze_startup_objects() -> None:
    from hitl.worker_process import freeze_startup_objects

    freeze_startup_objects()



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



def _index_content(rt: Any) -> None:
    """Index HITL_CONTENT_PATH now, so the first lead finds its assets; a new or changed file
    is picked up later without a restart (the library checks its folders before a search)."""
    folders = rt.settings.content_folders
    if not folders:
        return
    library = rt.content_library
    if library is None:
        typer.secho("content library unavailable: HITL_CONTENT_PATH not indexed",
                    fg=typer.colors.YELLOW, err=True)
        return
    from tools.content_library import ContentLibraryError

    for folder in folders:
        try:
            count = library.index_folder(folder)
        except ContentLibraryError as exc:
            typer.secho(f"HITL_CONTENT_PATH: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        typer.echo(f"content library: {folder}: {count} assets indexed (watched for changes)")


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
    from config.logs import configure_logging

    configure_logging()  # before Bolt or anything else logs: one format, no address in a line
    _limit_malloc_arenas()
    if worker is WorkerMode.process:
        _share_metrics_with_children()
    settings = settings_or_exit()
    if dev:
        host = "127.0.0.1"
    elif not settings.api_token:
        typer.secho("HITL_API_TOKEN is not set: refusing to serve the API without a token "
                    "(use `hitl serve --dev` for a loopback-only development server).",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    rt = runtime_or_exit(settings)
    locks = claim_or_exit(rt, "server", *(("worker",) if worker is not WorkerMode.none else ()))
    rt.db.upgrade()
    _index_content(rt)
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

    from api.app import build_routes, create_app

    application = build_routes(create_app(rt, worker=background, readiness=readiness))
    application.state.process_locks = locks
    _freeze_startup_objects()
    # No logging config of uvicorn's own: its records, the access lines too, go through ours.
    uvicorn.run(application, host=host, port=port, log_level="info", log_config=None)


def worker_command(
    threads: Annotated[int | None, typer.Option(
        min=1, max=256, help="Job threads (default HITL_WORKER_THREADS).")] = None,
) -> None:
    """Run the background worker alone: drafting, Slack posts, sends, SLA timers.

    `hitl serve` starts one for you; run it yourself beside `hitl serve --worker none` replicas
    (PostgreSQL: any number of workers; SQLite: exactly one)."""
    from config.logs import configure_logging
    from hitl.cpu_pinning import pin_if_configured
    from hitl.worker_process import run_worker_forever

    configure_logging()
    _limit_malloc_arenas()
    settings = settings_or_exit()
    pin_if_configured(settings)  # before the runtime starts a thread: they inherit the CPU
    rt = runtime_or_exit(settings)
    locks = claim_or_exit(rt, "worker")  # noqa: F841  (held until the process ends)
    rt.db.upgrade()
    run_worker_forever(rt, threads, before_start=_freeze_startup_objects)
