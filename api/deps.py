"""FastAPI dependencies as Annotated aliases: the runtime and the bearer-token check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.runtime import AppRuntime

_bearer = HTTPBearer(auto_error=False, description="HITL_API_TOKEN")


def get_runtime(request: Request) -> AppRuntime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[AppRuntime, Depends(get_runtime)]


def require_token(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = rt.settings.api_token
    if expected is None:
        return  # `hitl serve --dev`: loopback only, no token configured
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), expected.encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token (Authorization: Bearer $HITL_API_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
