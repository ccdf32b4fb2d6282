"""`hitl handoffs list|show|claim|reply|resolve|hand-back`: support without Slack, as yourself.

Who you are comes from your personal token in `HITL_TOKEN` (hitl/commands/_identity.py, as
`hitl approvals decide`); with the service token there, `--actor` names the person and the
audit log records the action as made through the service token. The commands call the
service layer directly (service/conversations.py, the functions `/v1/handoffs` and the Slack
buttons use), so the rules are the same: the support team claims, the first claim wins, only
the owner replies, the owner or a manager closes, and the Slack card follows (the worker
refreshes it).

Exit codes: 0 done; 1 refused or not found (the API's 403/404); 2 invalid input or no token
(422); 3 someone got there first, e.g. already claimed or closed (the API's 409). Customer
text is printed escaped (hitl/commands/_terminal.py): it never drives the terminal.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer

from hitl.commands._common import fail, runtime_or_exit, settings_or_exit
from hitl.commands._identity import principal_from_env
from hitl.commands._terminal import plain

handoffs_app = typer.Typer(help="Warm transfers to support: list, read, claim, reply, resolve, "
                                "hand back (as the person whose token is in HITL_TOKEN).",
                           no_args_is_help=True)

EXIT_CONFLICT = 3
_EXIT = {409: EXIT_CONFLICT, 422: 2}

_ACTOR = typer.Option(help="Only with the service token in HITL_TOKEN: who acts (Slack id or "
                           "email on the roster).")
_ID = typer.Argument(help="The handoff_id (from `hitl handoffs list`).")


def _runtime() -> Any:
    rt = runtime_or_exit(settings_or_exit())
    rt.db.upgrade()
    return rt


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _act(action: str, handoff_id: str, actor: str | None, *args: Any) -> dict[str, Any]:
    """Run one person's action on a handoff as HITL_TOKEN's member; exit as the API answers."""
    from service import conversations
    from service.errors import ServiceError
    from service.identity import acting_member

    rt = _runtime()
    try:
        principal = principal_from_env(rt, purpose=f"hitl handoffs {action}")
        member = acting_member(rt, principal, actor)
        via = principal.audit_detail()
        if action == "claim":
            result = conversations.claim(rt, handoff_id, member.key, via=via)
        elif action == "reply":
            conversations.agent_reply(rt, handoff_id, member.key, args[0])
            result = conversations.get_handoff(rt, handoff_id)
        elif action == "resolve":
            result = conversations.resolve(rt, handoff_id, member.key, via=via)
        else:
            result = conversations.hand_back(rt, handoff_id, member.key, args[0], via=via)
    except ServiceError as exc:
        fail(exc.message, _EXIT.get(exc.status, 1))
    finally:
        rt.close()
    result["acting_name"] = member.name
    return result


@handoffs_app.command("list")
def list_command(
    status: Annotated[str, typer.Option(
        help="open (default: waiting and claimed), waiting (the queue to claim from), claimed, "
             "resolved, handed_back, or all.")] = "open",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Warm transfers, oldest first (who has waited longest comes first)."""
    from agent.support.models import TransferStatus
    from service.support_views import list_handoffs

    # The words are TransferStatus's (imported here: `hitl --help` stays light), plus two.
    statuses = ("open", *(s.value for s in TransferStatus), "all")
    if status not in statuses:
        fail(f"--status must be one of {', '.join(statuses)}, got {status!r}", 2)
    one = None if status in ("open", "all") else TransferStatus(status)
    rt = _runtime()
    try:
        rows = list_handoffs(rt, status=one, limit=1000)
    finally:
        rt.close()
    if status == "open":
        rows = [r for r in rows
                if r["status"] in (TransferStatus.WAITING, TransferStatus.CLAIMED)]
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    if not rows:
        typer.echo("no handoffs" + ("" if status == "all" else f" ({status})"))
        return
    for h in rows:
        customer = h["customer"]
        who = plain(customer["name"] or customer["email"])
        typer.echo(f"{h['handoff_id']}  {h['status']:<11} since {_when(h['waiting_since'])}  "
                   f"owner {plain(h['owner_name'])}  {plain(h['trigger_label'])}")
        typer.echo(f"    {who} <{plain(customer['email'])}> at {plain(customer['company'])} "
                   f"({customer['value']} value)")
        typer.echo(f"    {plain(h['summary'])}")


@handoffs_app.command("show")
def show_command(
    handoff_id: Annotated[str, _ID],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The package: customer, why it was handed over, the conversation, a suggested reply."""
    from service import conversations
    from service.errors import ServiceError

    rt = _runtime()
    try:
        package = conversations.get_handoff(rt, handoff_id)
    except ServiceError as exc:
        fail(exc.message, _EXIT.get(exc.status, 1))
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(package, default=str, indent=2))
        return
    customer = package["customer"]
    typer.echo(f"{package['handoff_id']}  {package['status']}  owner {plain(package['owner'])}"
               f"  waiting since {_when(package['waiting_since'])}")
    typer.echo(f"customer: {plain(customer.get('name'))} <{plain(customer.get('email'))}> at "
               f"{plain(customer.get('company'))}")
    typer.echo(f"why: {plain(package['trigger'].get('label'))}; intent {plain(package['intent'])}")
    typer.echo(f"summary: {plain(package['summary'])}")
    for line in package["transcript"]:
        author = f" ({plain(line['author'])})" if line.get("author") else ""
        text = plain(line["text"], keep_newlines=True).replace("\n", "\n      ")
        typer.echo(f"  {_when(line['at'])}  {line['role']}{author}: {text}")
    typer.echo(f"suggested reply: {plain(package['suggested_reply'], keep_newlines=True)}")


@handoffs_app.command("claim")
def claim_command(handoff_id: Annotated[str, _ID],
                  actor: Annotated[str | None, _ACTOR] = None) -> None:
    """Take the conversation over (support team; the first claim wins, later ones exit 3)."""
    done = _act("claim", handoff_id, actor)
    typer.echo(f"{done['handoff_id']} claimed by {plain(done['acting_name'])}: reply with "
               f"`hitl handoffs reply {done['handoff_id']} TEXT`")


@handoffs_app.command("reply")
def reply_command(
    handoff_id: Annotated[str, _ID],
    text: Annotated[str, typer.Argument(help="What the customer reads (role `agent`); `-` "
                                             "reads it from standard input.")],
    actor: Annotated[str | None, _ACTOR] = None,
) -> None:
    """Your message to the customer. Only the owner replies; claim first."""
    from service.support_transfers import MAX_AGENT_TEXT

    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        fail("the reply is empty", 2)
    if len(text) > MAX_AGENT_TEXT:
        fail(f"the reply is longer than {MAX_AGENT_TEXT} characters", 2)
    done = _act("reply", handoff_id, actor, text)
    typer.echo(f"{done['handoff_id']}: sent to the customer as {plain(done['acting_name'])}")


@handoffs_app.command("resolve")
def resolve_command(handoff_id: Annotated[str, _ID],
                    actor: Annotated[str | None, _ACTOR] = None) -> None:
    """End the conversation: the owner or a manager (unclaimed: the support team)."""
    done = _act("resolve", handoff_id, actor)
    typer.echo(f"{done['handoff_id']} resolved by {plain(done['acting_name'])}")


@handoffs_app.command("hand-back")
def hand_back_command(
    handoff_id: Annotated[str, _ID],
    note: Annotated[str | None, typer.Option(help="For the record; not shown to the customer."
                                             )] = None,
    actor: Annotated[str | None, _ACTOR] = None,
) -> None:
    """Return the conversation to the bot: the owner or a manager (unclaimed: the team)."""
    if note is not None and len(note) > 2000:
        fail("--note is longer than 2000 characters", 2)
    done = _act("hand-back", handoff_id, actor, note)
    typer.echo(f"{done['handoff_id']} handed back to the bot by {plain(done['acting_name'])}")
