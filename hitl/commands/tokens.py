"""`hitl tokens create|list|revoke`: personal API tokens, each bound to a roster member.

The token is printed once, by `create`; only its SHA-256 is stored. Run on the machine that
holds the database (it writes the store directly, like `hitl outbox`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from hitl.commands._common import fail, runtime_or_exit, settings_or_exit

tokens_app = typer.Typer(help="Personal API tokens: each acts as one roster member.",
                         no_args_is_help=True)


def _runtime() -> Any:
    rt = runtime_or_exit(settings_or_exit())
    rt.db.upgrade()
    return rt


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@tokens_app.command("create")
def create(
    member: Annotated[str, typer.Option(help="The roster member (email or Slack id).")],
    name: Annotated[str | None, typer.Option(help="What the token is for (shown in list).")
                    ] = None,
) -> None:
    """Create a personal token for a roster member and print it (once: it is stored hashed)."""
    from service import personal_tokens
    from service.errors import ServiceError

    rt = _runtime()
    try:
        view, token = personal_tokens.create(rt, member, name)
    except ServiceError as exc:
        fail(exc.message, 2)
    finally:
        rt.close()
    typer.echo(token)
    typer.secho(f"{view['token_id']} for {view['member_name']} ({view['member']}); shown once, "
                "store it now. Use it as `Authorization: Bearer <token>` or HITL_TOKEN.",
                err=True, fg=typer.colors.GREEN)


@tokens_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every personal token (never the token itself): member, name, last use, revocation."""
    from service import personal_tokens

    rt = _runtime()
    try:
        rows = personal_tokens.list_tokens(rt)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    if not rows:
        typer.echo("no tokens")
        return
    for t in rows:
        state = (f"revoked {_when(t['revoked_at'])}" if t["revoked_at"]
                 else "active" if t["on_roster"] else "inactive (member not on the roster)")
        typer.echo(f"{t['token_id']}  {t['member']:<24} {(t['name'] or '-'):<20} "
                   f"created {_when(t['created_at'])}  last used {_when(t['last_used_at'])}  "
                   f"{state}")


@tokens_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="The token id (from `list`).")]
           ) -> None:
    """Revoke a token: it stops working at once (every replica checks the database)."""
    from service import personal_tokens
    from service.errors import ServiceError

    rt = _runtime()
    try:
        view = personal_tokens.revoke(rt, token_id)
    except ServiceError as exc:
        fail(exc.message)
    finally:
        rt.close()
    typer.echo(f"revoked {view['token_id']} ({view['member']})")
