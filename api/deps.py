"""FastAPI dependencies as Annotated aliases: the runtime, the bearer-token check and the
request's principal (who is acting: a personal token's member, or the service token)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service import personal_tokens
from service.identity import SERVICE_PRINCIPAL, Principal
from service.runtime import AppRuntime

_bearer = HTTPBearer(auto_error=False,
                     description="A personal token (`hitl tokens create`) or HITL_API_TOKEN")

BEARER_REFUSAL = ("missing, wrong or revoked bearer token (Authorization: Bearer <personal "
                  "token from `hitl tokens create`, or $HITL_API_TOKEN>)")


def get_runtime(request: Request) -> AppRuntime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[AppRuntime, Depends(get_runtime)]


def _is_service_token(rt: AppRuntime, token: str | None) -> bool:
    expected = rt.settings.api_token
    return (token is not None and expected is not None
            and secrets.compare_digest(token.encode(), expected.encode()))


async def bearer_accepted(rt: AppRuntime, active: personal_tokens.ActiveTokens,
                          token: str | None) -> bool:
    """Whether a bearer token may use `/v1/*` (always, in `hitl serve --dev` with no token).

    The HTTP edge (api.edge) awaits this on the event loop before it reads a request's body:
    the service token is compared in memory; a personal token is looked up in the in-memory
    set of active tokens (`active`, the edge's service.personal_tokens.ActiveTokens), which
    reloads in a thread.
    The route's dependency (`require_token`) then checks the token against the database."""
    if rt.settings.api_token is None and not personal_tokens.looks_personal(token):
        return True  # `hitl serve --dev`: loopback only, no token configured
    if _is_service_token(rt, token):
        return True
    return await active.accepts(token)


def require_token(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The request's principal, or 401. Runs in a worker thread (a sync dependency): a
    personal token is checked against the database (revoked, or its member off the roster:
    refused at once, whatever the edge's cache still holds)."""
    token = credentials.credentials if credentials else None
    if _is_service_token(rt, token):
        return SERVICE_PRINCIPAL
    if personal_tokens.looks_personal(token):
        principal = personal_tokens.resolve(rt, token)
        if principal is not None:
            return principal
    elif rt.settings.api_token is None:
        return SERVICE_PRINCIPAL  # `hitl serve --dev` with no token configured
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=BEARER_REFUSAL,
                        headers={"WWW-Authenticate": "Bearer"})


# The acting principal of a `/v1/*` request (FastAPI runs `require_token` once per request,
# whether the router or the route asks for it).
PrincipalDep = Annotated[Principal, Depends(require_token)]
