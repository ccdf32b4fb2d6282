"""`hitl demo`, `hitl ingest`, `hitl tune`, `hitl db upgrade`: one-shot data commands."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hitl.commands._common import fail, progress_bar, runtime_or_exit, settings_or_exit

if TYPE_CHECKING:
    from service.schemas import EventIn


def demo(
    workdir: Annotated[Path | None, typer.Option(
        help="Keep the demo's database and Chroma here (default: a fresh temporary folder).")]
    = None,
) -> None:
    """Offline end-to-end walkthrough on the embedded defaults (no keys, no network)."""
    from hitl.demo import run_demo

    raise typer.Exit(run_demo(workdir))


INGEST_HELP = """Load events from a JSONL or CSV file, process them, and say where
each lead went.

Every row is validated first, exactly as POST /v1/events validates an event.
If any row has a problem nothing is stored (each problem names its row or
line and its column or field), unless --skip-bad-rows is given: then the good
rows are imported and the bad ones listed.

\b
JSONL: one event per line, the JSON that POST /v1/events takes.
CSV: a header row, then one event per row; an empty cell is an absent value.
  event_id, type, occurred_at   required (occurred_at: a date and time)
  email  or lead.email          required; also first_name, last_name,
                                company, title, domain, country,
                                employees (integer), industry, timezone
  properties.NAME               a property; dots nest (properties.utm.source);
                                any other column is a property too;
                                a `properties` column may hold a JSON object

\b
Cells are coerced from text:
  numbers     1200, 1,200, 12.5, 12%
  booleans    true/false, yes/no, 1/0
  date/time   2026-11-20T14:03:00Z, 2026-11-20 14:03 UTC, 2026-11-20,
              RFC 2822, Unix seconds; without a zone, give --timezone
change_pct and sentiment are numbers, email_opt_in a boolean (the event
rules); type other properties with a header suffix: properties.seats:number,
:integer, :boolean, :datetime, :json, :text (the default).

After processing, each lead is listed with its band, route, owner and whether
an approval card was created, then a summary line. README: "Importing events".
"""


def ingest(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="Events as JSONL (one event a line) or CSV.")],
    batch_size: Annotated[int, typer.Option(min=1, max=1000,
                                            help="Events stored per transaction.")] = 500,
    process: Annotated[bool, typer.Option(
        help="Also process the events now (qualify, route, draft) instead of leaving them "
             "to a running `hitl serve`.")] = True,
    skip_bad_rows: Annotated[bool, typer.Option(
        "--skip-bad-rows", help="Import the valid rows and list the bad ones, instead of "
                                "importing nothing when a row is bad.")] = False,
    file_format: Annotated[str | None, typer.Option(
        "--format", help="csv or jsonl (default: from the file name; .csv and .tsv are CSV).")]
    = None,
    timezone: Annotated[str | None, typer.Option(
        help="IANA time zone of CSV times written without one (e.g. UTC, Europe/Berlin).")]
    = None,
) -> None:
    with loading():  # the event models and the file readers (pydantic, the policy's rules)
        from service.csv_cells import CellError, zone
        from service.event_import import EventFileError, detect_format, read_event_file

    if file_format not in (None, "csv", "jsonl"):
        fail(f"--format must be csv or jsonl, not {file_format!r}", 2)
    if timezone is not None:
        try:
            zone(timezone)
        except CellError as exc:
            fail(f"--timezone: {exc}", 2)
    fmt = file_format or detect_format(path)
    try:
        parsed = read_event_file(path, fmt=fmt, assume_tz=timezone)  # type: ignore[arg-type]
    except EventFileError as exc:
        fail(str(exc))
    unit = "row" if fmt == "csv" else "line"
    if parsed.problems:
        bad = len(parsed.bad_rows)
        typer.secho(f"{path}: {len(parsed.problems)} problem(s) in {bad} of {parsed.rows} "
                    f"{unit}s:\n{parsed.problem_text()}", fg=typer.colors.RED, err=True)
        if fmt == "csv" and timezone is None and any("has no time zone" in p.message
                                                     for p in parsed.problems):
            typer.secho("(times without a zone: pass --timezone, e.g. --timezone UTC)",
                        err=True)
        if not skip_bad_rows:
            fail(f"nothing was ingested: fix the {unit}s above, or pass --skip-bad-rows to "
                 f"import the other {parsed.rows - bad} {unit}s")
        typer.secho(f"skipping {bad} bad {unit}(s): {', '.join(map(str, parsed.bad_rows[:50]))}"
                    + (" ..." if bad > 50 else ""), fg=typer.colors.YELLOW, err=True)
    if not parsed.events:
        fail(f"{path}: no events found" + (" (every row was skipped)" if parsed.problems
                                           else ""))
    _ingest_and_report(parsed.events, batch_size=batch_size, process=process)


ingest.__doc__ = INGEST_HELP


def _ingest_and_report(events: list[EventIn], *, batch_size: int, process: bool) -> None:
    with loading():
        from service.import_outcomes import ImportSummary, ingest_in_batches, lead_outcomes

        rt = runtime_or_exit(settings_or_exit())
        skip_unneeded_chroma(rt)
        rt.db.upgrade()
    try:
        since = rt.clock.now()
        summary = ImportSummary()
        with progress_bar() as progress:
            task = progress.add_task("ingesting", total=len(events))
            summary.result = ingest_in_batches(
                rt, events, batch_size=batch_size,
                on_batch=lambda n: progress.advance(task, n))
        result = summary.result
        typer.echo(f"accepted {result.accepted}, duplicates {result.duplicates}")
        lead_ids = [ref["lead_id"] for ref in result.leads]
        if not process:
            typer.echo(f"{len(lead_ids)} lead(s) queued: a running `hitl serve` or `hitl worker` "
                       "processes them")
            return
        if result.accepted:
            with loading():
                from service.worker import Worker

                _ = rt.graph  # LangGraph and the compiled handoff graph, loaded here, not in a job
            worker = Worker(rt)
            with progress_bar() as progress:
                progress.add_task("processing (qualify, route, draft)", total=None)
                worker.run_until_idle(timeout=3600)
            worker.stop()
        summary.outcomes = lead_outcomes(rt, lead_ids, since=since)
        for line in outcome_lines(summary):
            typer.echo(line)
    finally:
        rt.close()


@contextmanager
def loading() -> Iterator[None]:
    """Around a one-shot command's imports: no cyclic garbage collection while modules load
    (loading the processing code allocates millions of objects that live as long as the
    process; collecting generations of them again and again finds nothing), then those
    objects are frozen out of the collector's reach (`gc.freeze`, as `hitl serve`'s worker
    does) and collection resumes for the work itself. They stay frozen: the process ends with
    the command, and its exit then skips a full collection of them (an in-process caller, such
    as a test, calls `gc.unfreeze()` afterwards)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def skip_unneeded_chroma(rt) -> None:  # type: ignore[no-untyped-def]
    """An embedded Chroma folder that does not exist holds no content to recommend: processing
    then needs no content library, and creating an empty one (and importing chromadb) would
    cost most of a small import's time."""
    settings = rt.settings
    if (not settings.chroma_url and rt.library_override is None
            and not Path(settings.chroma_path).exists()):
        rt.content_library = None


MAX_LEADS_LISTED = 200


def outcome_lines(summary) -> list[str]:  # type: ignore[no-untyped-def]
    """Per lead: email, band (score), route and owner, card; then one summary line."""
    outcomes = summary.outcomes
    rows = []
    for o in outcomes[:MAX_LEADS_LISTED]:
        band = o.band or "unscored"
        if o.score is not None and o.band != "disqualified":
            band += f" ({o.score:.0f})"
        elif o.disqualifiers:
            band += f" ({', '.join(o.disqualifiers)})"
        route = o.route or "not routed"
        if o.owner:
            route += f" -> {o.owner_name or o.owner}"
        if o.suppression_reason and o.route not in ("hand_raise", "strategic", "band_a"):
            route += f" (suppressed: {o.suppression_reason})"
        card = "no card"
        if o.approval_id:
            card = (f"card {'created' if o.card_created else '(earlier)'}: {o.approval_id} "
                    f"{o.approval_status} for {o.assignee_name or 'the owner'}")
        rows.append((o.email, band, route, card))
    widths = [min(max((len(row[i]) for row in rows), default=0), 40) for i in range(3)]
    lines = [f"  {e:<{widths[0]}}  {b:<{widths[1]}}  {r:<{widths[2]}}  {c}"
             for e, b, r, c in rows]
    if len(outcomes) > MAX_LEADS_LISTED:
        lines.append(f"  ... and {len(outcomes) - MAX_LEADS_LISTED} more lead(s)")
    counts = summary.counts()
    bands = ", ".join(f"{k} {v}" for k, v in sorted(counts["band"].items()))
    routes = ", ".join(f"{k} {v}" for k, v in counts["route"].most_common())
    lines.append(f"{len(outcomes)} lead(s): bands {bands or '-'}; routes {routes or '-'}; "
                 f"{summary.cards} approval card(s) created")
    return lines


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
    from hitl.commands.experiments import echo_tuning_evidence

    echo_tuning_evidence(proposal)  # experiments and CSAT: proposed, never applied
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
