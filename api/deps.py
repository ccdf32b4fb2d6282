"""FastAPI dependencies as Annotated aliases: the runtime and the bearer-token check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.runtime import AppRuntime

_bearer = HTTPBearer(auto_error=False, description="HITL_API_TOKEN")

BEARER_REFUSAL = "missing or wrong bearer token (Authorization: Bearer $HITL_API_TOKEN)"


def get_runtime(request: Request) -> AppRuntime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[AppRuntime, Depends(get_runtime)]


def bearer_accepted(rt: AppRuntime, token: str | None) -> bool:
    """Whether a bearer token may use `/v1/*` (always, in `hitl serve --dev` with no token).

    The HTTP edge (api.edge) calls this on the event loop before it reads a request's body,
    so it must not block: a check that needs the database belongs behind a cache."""
    expected = rt.settings.api_token
    if expected is None:
        return True  # `hitl serve --dev`: loopback only, no token configured
    return token is not None and secrets.compare_digest(token.encode(), expected.encode())


def require_token(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if not bearer_accepted(rt, credentials.credentials if credentials else None):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=BEARER_REFUSAL,
                            headers={"WWW-Authenticate": "Bearer"})
