"""`hitl approvals list [--mine]` and `hitl approvals decide ID --action ...`, as yourself.

Who you are comes from your personal token in `HITL_TOKEN` (hitl/commands/_identity.py); the
commands call the service layer directly (the same functions the API and Slack use), so a
decision here is checked, recorded and audited exactly as one made over the API.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from hitl.commands._common import fail, runtime_or_exit, settings_or_exit
from hitl.commands._identity import principal_from_env
from hitl.commands._terminal import plain

approvals_app = typer.Typer(help="Approval requests: list them, decide one (as the person "
                                 "whose token is in HITL_TOKEN).", no_args_is_help=True)

_ACTIONS = ("approve", "edit", "revise", "escalate", "reject")


def _runtime() -> Any:
    rt = runtime_or_exit(settings_or_exit())
    rt.db.upgrade()
    return rt


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


@approvals_app.command("list")
def list_command(
    mine: Annotated[bool, typer.Option("--mine", help="Only those assigned to you (HITL_TOKEN)."
                                       )] = False,
    status: Annotated[str, typer.Option(help="pending (default), a decided status, or all.")
                      ] = "pending",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Approval requests, oldest first, with their lead, draft subject and SLA."""
    from service.approvals import list_approvals
    from service.lifecycle import ApprovalStatus

    statuses = [s.value for s in ApprovalStatus] + ["all"]
    if status not in statuses:
        fail(f"--status must be one of {', '.join(statuses)}, got {status!r}", 2)
    rt = _runtime()
    try:
        assignee = None
        if mine:
            principal = principal_from_env(rt, purpose="--mine")
            if principal.member is None:
                fail("--mine needs a personal token in HITL_TOKEN (the service token is "
                     "nobody)", 2)
            assignee = principal.member.key
        rows = list_approvals(rt, status=None if status == "all" else status,
                              assignee=assignee, limit=1000)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    if not rows:
        typer.echo("no approvals" + (" for you" if mine else "")
                   + ("" if status == "all" else f" with status {status}"))
        return
    for a in rows:
        typer.echo(f"{a['approval_id']}  v{a['version']}  {a['status']:<10} "
                   f"{plain(a['assignee']):<20} lead {a['lead_id']} to {plain(a['draft']['to'])}"
                   f"  SLA {_when(a['sla_due_at'])}")
        typer.echo(f"    {plain(a['draft']['subject'])}")


@approvals_app.command("decide")
def decide_command(
    approval_id: Annotated[str, typer.Argument(help="The approval_id (from `list`).")],
    action: Annotated[str, typer.Option(help="approve | edit | revise | escalate | reject.")],
    reason: Annotated[str | None, typer.Option(
        help="Reject reason: connected, meeting_set, no_response, not_icp, not_now, "
             "competitor, duplicate.")] = None,
    note: Annotated[str | None, typer.Option(help="A note kept with the decision.")] = None,
    instruction: Annotated[str | None, typer.Option(
        help="For revise: what to change in the draft.")] = None,
    subject: Annotated[str | None, typer.Option(help="For edit: the subject to send.")] = None,
    body: Annotated[str | None, typer.Option(help="For edit: the text to send.")] = None,
    escalate_to: Annotated[str | None, typer.Option(
        help="For escalate: who takes it (email or Slack id; default a manager).")] = None,
    actor: Annotated[str | None, typer.Option(
        help="Only with the service token in HITL_TOKEN: who decides.")] = None,
) -> None:
    """Decide an approval as yourself (the member whose personal token is in HITL_TOKEN)."""
    from pydantic import ValidationError

    from service.approvals import decide
    from service.errors import ServiceError
    from service.schemas import DecisionIn

    if action not in _ACTIONS:
        fail(f"--action must be one of {', '.join(_ACTIONS)}, got {action!r}", 2)
    fields = {"action": action, "actor": actor, "reason_code": reason, "note": note,
              "instruction": instruction, "subject": subject, "body": body,
              "escalate_to": escalate_to}
    try:
        decision = DecisionIn.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
                             for e in exc.errors())
        fail(f"invalid decision: {problems}".replace("reason_code", "--reason"), 2)
    rt = _runtime()
    try:
        principal = principal_from_env(rt, purpose="deciding")
        view = decide(rt, approval_id, decision, principal)
    except ServiceError as exc:
        fail(exc.message, 2 if exc.status == 422 else 1)
    finally:
        rt.close()
    typer.echo(f"{view['approval_id']} {view['status']} by {plain(view['decided_by'])} at "
               f"{_when(view['decided_at'])}")
