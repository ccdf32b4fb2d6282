"""`hitl outbox ...` and `hitl jobs ...`: stuck work, listed and retried from the command line.

They read and write the store directly (the same service functions the API uses), so they work
while the server is down; a running worker picks a retry up at its next poll.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from hitl.commands._common import fail, runtime_or_exit, settings_or_exit

outbox_app = typer.Typer(help="Approved emails: where each one stands, and retrying the stuck "
                              "ones.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background work: what failed for good, and retrying it.",
                       no_args_is_help=True)

_SEND_STATUSES = ("queued", "retrying", "sent", "blocked", "failed")
_JOB_STATUSES = ("queued", "retrying", "failed")


def _runtime() -> Any:
    rt = runtime_or_exit(settings_or_exit())
    rt.db.upgrade()
    return rt


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _print_json(rows: Any) -> None:
    typer.echo(json.dumps(rows, default=str, indent=2))


@outbox_app.command("list")
def outbox_list(
    status: Annotated[str | None, typer.Option(
        help=f"Only this status: {', '.join(_SEND_STATUSES)}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Approved emails, oldest first, with why they are stuck and when they are tried next."""
    if status is not None and status not in _SEND_STATUSES:
        fail(f"--status must be one of {', '.join(_SEND_STATUSES)}, got {status!r}", 2)
    from service.outbox_views import list_outbox

    rt = _runtime()
    try:
        rows = list_outbox(rt, status=status, limit=1000)  # type: ignore[arg-type]
    finally:
        rt.close()
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("no messages" + (f" with status {status}" if status else ""))
        return
    for m in rows:
        typer.echo(f"{m['outbox_id']}  {m['status']:9} to {m['to']}  tries {m['attempts']}  "
                   f"next {_when(m['next_attempt_at'])}  approved {_when(m['created_at'])}")
        if m["detail"]:
            typer.echo(f"    {m['detail']}")


@outbox_app.command("retry")
def outbox_retry(
    outbox_id: Annotated[str, typer.Argument(help="The outbox_id to retry.")],
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Resend a not-confirmed send without asking (after checking that "
                            "it did not arrive).")] = False,
) -> None:
    """Try a retrying or failed email again now (same message and Message-ID: still once)."""
    from service.errors import ServiceError
    from service.lifecycle import outcome_unknown
    from service.outbox import retry
    from service.outbox_views import get_outbox

    rt = _runtime()
    try:
        current = get_outbox(rt, outbox_id)
        if outcome_unknown(current["detail"]) and not yes:
            _confirm_resend(current)
        view = retry(rt, outbox_id, actor="cli")
    except ServiceError as exc:
        fail(exc.message)
    finally:
        rt.close()
    typer.echo(f"{view['outbox_id']} will be tried again now by the worker "
               f"(to {view['to']}, {view['attempts']} tries so far)")


def _confirm_resend(message: dict[str, Any]) -> None:
    """A send the mail server may have delivered (its answer never came): a person at a
    terminal is asked first; a script is warned on stderr and goes on (`--yes` says it
    checked). The card, the DM and the detail already said to check first."""
    warning = (f"{message['outbox_id']} was handed to the mail server, whose answer never "
               f"came: it may have arrived. Look for Message-ID {message['message_id']} in the "
               f"mail server's log or ask {message['to']} before sending it again.")
    typer.secho(warning, fg=typer.colors.YELLOW, err=True)
    if _at_a_terminal() and not typer.confirm("Send it again?", default=False):
        fail("not retried")


def _at_a_terminal() -> bool:
    import sys

    return sys.stdin.isatty()


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str, typer.Option(
        help=f"One of {', '.join(_JOB_STATUSES)}.")] = "failed",
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Background jobs (by default the ones parked after their retry budget)."""
    if status not in _JOB_STATUSES:
        fail(f"--status must be one of {', '.join(_JOB_STATUSES)}, got {status!r}", 2)
    from service.jobs import list_jobs

    rt = _runtime()
    try:
        rows = list_jobs(rt.db, status=status, kind=kind, limit=1000)  # type: ignore[arg-type]
    finally:
        rt.close()
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo(f"no {status} jobs")
        return
    for j in rows:
        typer.echo(f"{j['job_id']:>6}  {j['kind']:24} {j['status']:8} tries {j['attempts']}  "
                   f"failing since {_when(j['failing_since'])}  failed {_when(j['failed_at'])}")
        if j["last_error"]:
            typer.echo(f"        {j['last_error'][:300]}")


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[int, typer.Argument(help="The job id to retry.")]) -> None:
    """Make a parked job due now, with a fresh retry budget."""
    from service.job_watch import retry_job

    rt = _runtime()
    try:
        view = retry_job(rt, job_id, actor="cli")
    finally:
        rt.close()
    if view is None:
        fail(f"job {job_id} not found")
        return
    typer.echo(f"job {job_id} ({view['kind']}) is due now; a running worker takes it next")
