"""Who runs a CLI command that acts as a person: the personal token in `HITL_TOKEN`.

The token is checked against the store exactly as the API checks it (not revoked, member still
on the roster); the command then calls the service layer with that Principal, not HTTP.
`HITL_TOKEN` set to the service token (`HITL_API_TOKEN`) acts as the service token: an
`--actor` is then required, and the decision is recorded as made through it."""

from __future__ import annotations

import os
import secrets
from typing import Any

from hitl.commands._common import fail

TOKEN_ENV = "HITL_TOKEN"


def principal_from_env(rt: Any, *, purpose: str) -> Any:
    """The Principal of `HITL_TOKEN`, or exit 2 (unset) / 1 (refused) saying why."""
    from service import personal_tokens
    from service.identity import SERVICE_PRINCIPAL

    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        fail(f"{purpose} needs your personal token in {TOKEN_ENV} "
             "(ask an admin for one: `hitl tokens create --member YOUR_EMAIL`)", 2)
    service = rt.settings.api_token
    if service is not None and secrets.compare_digest(token.encode(), service.encode()):
        return SERVICE_PRINCIPAL
    principal = personal_tokens.resolve(rt, token)
    if principal is None:
        fail(f"{TOKEN_ENV} is not an active personal token (unknown, revoked, or its member "
             "is no longer on the roster)")
    return principal
