"""Reads a browser opens from a signed, expiring link, or with the bearer token as usual.

`bearer_or_signed_link("/v1/approvals/{approval_id}")` is a route dependency: with `sig` or
`exp` in the query it checks the link alone (service.report_links.verify over the route's own
path, 403 when expired or altered); without them the bearer token is required as on every other
`/v1` route (401). The edge leaves bodiless `/v1` reads to their routes, so nothing is read
before this check. The SLA notice emails carry such links (service/notices.py); the KPI report's
own check is in api/routers/reports.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import RuntimeDep, require_token
from service.report_links import LINK_ALTERED, LINK_EXPIRED, verify

_bearer = HTTPBearer(auto_error=False, description="HITL_API_TOKEN")

SIGNED_REFUSAL: dict[int | str, dict[str, Any]] = {
    403: {"description": "A signed link that expired or was altered.",
          "content": {"application/json": {"example": {"detail": LINK_EXPIRED}}}},
}


def bearer_or_signed_link(path_template: str) -> Callable[..., None]:
    """The dependency for one read route; `path_template` is its full path with the route's
    parameters in braces, exactly as `signed_url` was given it."""

    def check(
        request: Request,
        response: Response,
        rt: RuntimeDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        sig: Annotated[str | None, Query(description=(
            "Signed link: HMAC-SHA256 of the path and `exp` (from a notice email)."))] = None,
        exp: Annotated[str | None, Query(description="Signed link: expiry, Unix seconds."
                                         )] = None,
    ) -> None:
        if sig is None and exp is None:
            require_token(rt, credentials)
            return
        verify(rt.settings, path_template.format(**request.path_params), sig, exp,
               rt.clock.now(), altered=LINK_ALTERED, expired=LINK_EXPIRED)
        # A secret in the URL: keep the answer out of shared caches and other sites' logs.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"

    return check
