"""`hitl crm backfill hubspot`: a team's first day (README, "CRM connectors")."""

from __future__ import annotations

from typing import Annotated

import typer

from hitl.commands._common import fail, runtime_or_exit, settings_or_exit

crm_app = typer.Typer(help="CRM connectors: import what HubSpot already holds.",
                      no_args_is_help=True)
backfill_app = typer.Typer(help="Import a CRM's existing records as leads and events.",
                           no_args_is_help=True)
crm_app.add_typer(backfill_app, name="backfill")


@backfill_app.command("hubspot")
def backfill_hubspot_command(
    after: Annotated[str | None, typer.Option(
        help="Resume from this paging cursor (printed by a run that stopped).")] = None,
    page_size: Annotated[int, typer.Option(min=1, max=100,
                                           help="Contacts per HubSpot page.")] = 100,
    max_pages: Annotated[int | None, typer.Option(
        min=1, help="Stop after this many pages (a trial run).")] = None,
    process: Annotated[bool, typer.Option(
        help="Also process the leads now instead of leaving them to a running `hitl serve`.")]
    = True,
) -> None:
    """Every HubSpot contact (GET /crm/v3/objects/contacts, paged with `after`) mapped by
    HITL_CRM_FILE into leads and events, stored through the ingestion path; needs
    HUBSPOT_ACCESS_TOKEN (scope crm.objects.contacts.read). Safe to run again: nothing is
    stored twice."""
    from service.crm_backfill import backfill_hubspot
    from service.errors import InvalidInput

    rt = runtime_or_exit(settings_or_exit())
    rt.db.upgrade()
    try:
        result = backfill_hubspot(rt, after=after, page_size=page_size, max_pages=max_pages)
    except InvalidInput as exc:
        fail(str(exc), 2)
    except Exception as exc:  # HubSpot kept failing: say where to resume
        stopped = getattr(exc, "backfill", None)
        resume = f"; resume with --after {stopped.next_after}" \
            if stopped is not None and stopped.next_after else ""
        done = f" after {stopped.pages} page(s), {stopped.contacts} contact(s)" \
            if stopped is not None else ""
        fail(f"backfill stopped{done}: {exc}{resume}")
    typer.echo(f"{result.pages} page(s), {result.contacts} contact(s): {result.leads} lead(s), "
               f"{result.skipped} without a usable email; events accepted {result.accepted}, "
               f"duplicates {result.duplicates}")
    if result.next_after:
        typer.echo(f"stopped at --max-pages; resume with --after {result.next_after}")
    if process and result.accepted:
        from service.worker import Worker

        worker = Worker(rt)
        worker.run_until_idle(timeout=3600)
        worker.stop()
        typer.echo("processed (qualified, routed; cards only for fresh hand-raises)")
    rt.close()
