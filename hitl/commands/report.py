"""`hitl report`: production KPIs from the store (reports/kpi), written, published, posted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hitl.commands._common import fail, progress_bar, runtime_or_exit, settings_or_exit

REPORT_HELP = (
    "Production KPIs from the store at HITL_DATABASE_URL: speed to lead, SLA, approvals, edits."
    "\n\n"
    "Speed (signal -> card -> decision -> send, p50/p90), SLA attainment, approved as-is next "
    "to edited, edit distance and common edit patterns, escalations, rejections by reason code, "
    "recycling and return to intent, meetings set and support transfers, by week, route, band, "
    "rep, prompt version and policy version. Writes a self-contained HTML page, JSON and a "
    "Markdown summary. Works on an empty store."
    "\n\n"
    "`hitl report --link [--hours H]` only prints a signed link to the latest published report "
    "(HITL_PUBLIC_URL/v1/reports/kpi?sig=...&exp=...) that a browser opens without a token "
    "until it expires; the Slack summary carries one too."
)



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
    link: Annotated[bool, typer.Option(
        "--link",
        help="Print a signed, expiring link to the latest published report that a browser "
             "opens without a token (HITL_PUBLIC_URL; secret HITL_LINK_SECRET, else derived "
             "from HITL_API_TOKEN), and build nothing.")] = False,
    hours: Annotated[float, typer.Option(
        min=0.01, max=2160, help="How long a link (--link, the Slack summary's) stays valid.")
    ] = 168,
    style_examples: Annotated[bool, typer.Option(
        "--style-examples/--no-style-examples",
        help="Refresh the approved-after-edit pairs in Chroma that serve as the drafter's "
             "style examples.")] = True,
) -> None:
    """`hitl report` (help text above)."""
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html, render_kpi_markdown
    from reports.store import publish as publish_run
    from reports.store import reports_root, write_files

    settings = settings_or_exit()
    if link:
        _print_link(settings, hours)
        return
    if slack_channel and not settings.slack_bot_token:
        typer.secho("--slack-channel needs SLACK_BOT_TOKEN", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    rt = runtime_or_exit(settings)
    try:
        rt.db.upgrade()
        with progress_bar() as progress:
            task = progress.add_task("reading the store", total=4)

            def step(message: str) -> None:
                progress.update(task, advance=1, description=message)

            run = build_kpi_report(rt, days=days or None, weeks=weeks, progress=step)
            if style_examples:
                progress.update(task, description="style examples (Chroma)")
                try:
                    from service.edit_pairs import sync_edit_pairs

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
        from reports.slack_post import SlackPostError, post_summary

        try:
            ts = post_summary(settings, slack_channel, markdown,
                              report_path=str(written[-1]) if written else None,
                              report_link=_summary_link(settings, hours) if publish else None)
        except SlackPostError as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        typer.echo(f"posted the summary to {slack_channel} (ts {ts})")


def _print_link(settings, hours: float) -> None:  # type: ignore[no-untyped-def]
    """The link alone on stdout (for scripts), its expiry and any caveat on stderr."""
    from config.clock import SystemClock
    from reports.store import latest, reports_root
    from service.errors import ServiceError
    from service.report_links import signed_url

    try:
        url, expires = signed_url(settings, SystemClock().now(), hours=hours)
    except ServiceError as exc:
        fail(exc.message, 2)
    typer.echo(url)
    typer.echo(f"valid until {expires:%Y-%m-%d %H:%M} UTC; opens the latest published KPI "
               "report", err=True)
    if latest(reports_root(settings), "kpi") is None:
        typer.secho("no KPI report is published yet: run `hitl report` (the link answers 404 "
                    "until then)", fg=typer.colors.YELLOW, err=True)


def _summary_link(settings, hours: float) -> str | None:  # type: ignore[no-untyped-def]
    """The Slack summary's link, or None when no secret is configured (no link, no error)."""
    from config.clock import SystemClock
    from service.report_links import NoLinkSecret, signed_url

    try:
        return signed_url(settings, SystemClock().now(), hours=hours)[0]
    except NoLinkSecret:
        return None
