"""`hitl leads show EMAIL`: a lead found by its email, as the API shows it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from hitl.commands._common import runtime_or_exit, settings_or_exit
from hitl.commands._terminal import plain

leads_app = typer.Typer(help="Leads: find one by email.", no_args_is_help=True)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _print(lead: dict[str, Any]) -> None:
    name = " ".join(p for p in (lead["first_name"], lead["last_name"]) if p) or None
    title = f", {plain(lead['title'])}" if lead["title"] else ""
    company = f" at {plain(lead['company'])}" if lead["company"] else ""
    typer.echo(f"{lead['lead_id']}  {plain(lead['email'])}  {plain(name)}{title}{company}")
    score = f"{lead['score']:.0f}" if lead["score"] is not None else "-"
    typer.echo(f"  band {lead['band'] or '-'} (score {score})  stage {lead['stage']}  "
               f"owner {plain(lead['owner'])}  route {lead['route'] or '-'}")
    typer.echo(f"  SLA due {_when(lead['sla_due_at'])}  suppressed until "
               f"{_when(lead['suppressed_until'])}  unsubscribed "
               f"{'yes' if lead['unsubscribed'] else 'no'}")
    for d in lead["disqualifiers"] or []:
        typer.echo(f"  disqualified: {plain(d)}")
    handoff = lead.get("handoff")
    if handoff:
        typer.echo(f"  handoff {handoff['handoff_id']} {handoff['status']} with "
                   f"{plain(handoff['assignee'])} (SLA {_when(handoff['sla_due_at'])})")


@leads_app.command("show")
def show(email: Annotated[str, typer.Argument(help="The lead's email address (any case).")],
         as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")
                            ] = False) -> None:
    """Show the lead with this email: band, score, owner, stage, SLA and its open handoff."""
    from service.lookups import find_leads_by_email

    rt = runtime_or_exit(settings_or_exit())
    try:
        rt.db.upgrade()
        found = find_leads_by_email(rt, email)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(found, default=str, indent=2))
    elif not found:
        typer.echo(f"no lead with email {email}")
    for lead in found if not as_json else []:
        _print(lead)
    if not found:
        raise typer.Exit(1)
