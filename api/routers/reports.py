"""The latest eval and KPI reports, as published by `hitl eval` and `hitl report`.

Reports are files in the report store (`reports.store`): the newest complete run of each
kind is served as the self-contained HTML page, or as its JSON or Markdown with `?format=`.
The HTML carries a Content-Security-Policy that forbids every remote load and every script, so
lead-supplied text quoted in a report can never reach out or run.

The KPI report also opens from a signed, expiring link (`?sig=...&exp=...`, made by
`hitl report --link` and carried by the Slack summary) with no bearer header, so a manager's
browser can open it: `kpi_router` is mounted without the bearer dependency and checks either
the link (service.report_links; 403 when expired or altered) or the bearer token itself.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import RuntimeDep, require_token
from reports.store import HTML_NAME, JSON_NAME, MARKDOWN_NAME, ReportKind, latest, reports_root
from service.errors import NotFound
from service.report_links import KPI_REPORT_PATH, verify

router = APIRouter(prefix="/reports", tags=["reports"])  # mounted behind the bearer token
kpi_router = APIRouter(prefix="/reports", tags=["reports"])  # bearer token or signed link
_bearer = HTTPBearer(auto_error=False, description="HITL_API_TOKEN")

ReportFormat = Literal["html", "json", "md"]
_FILES = {"html": (HTML_NAME, "text/html; charset=utf-8"),
          "json": (JSON_NAME, "application/json"),
          "md": (MARKDOWN_NAME, "text/markdown; charset=utf-8")}
_COMMANDS = {"eval": "hitl eval", "kpi": "hitl report"}
_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/html": {}, "application/json": {}, "text/markdown": {}},
          "description": "The latest report (HTML by default)."},
    403: {"description": "A signed link that expired or was altered (KPI report only).",
          "content": {"application/json": {"example": {
              "detail": "this report link has expired: ask for a new one "
                        "(`hitl report --link`)"}}}},
    404: {"description": "No report of this kind has been published yet.",
          "content": {"application/json": {"example": {
              "detail": "no eval report yet: run `hitl eval` to publish one"}}}},
}


def _serve(rt: RuntimeDep, kind: ReportKind, fmt: ReportFormat) -> Response:
    folder = latest(reports_root(rt.settings), kind)
    if folder is None:
        raise NotFound(f"no {kind} report yet: run `{_COMMANDS[kind]}` to publish one")
    name, media_type = _FILES[fmt]
    path = folder / name
    if not path.is_file():
        raise NotFound(f"the latest {kind} report ({folder.name}) has no {fmt} file")
    return FileResponse(path, media_type=media_type,
                        headers={**_HEADERS, "X-Report-Run-Id": folder.name})


@router.get("/eval", response_class=Response, responses=_RESPONSES)
def latest_eval(
    rt: RuntimeDep,
    format: Annotated[ReportFormat, Query(description="html (default), json or md")] = "html",
) -> Response:
    """The latest `hitl eval` report: gate, routing and handoff accuracy, drafts, graph safety."""
    return _serve(rt, "eval", format)


def kpi_access(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    sig: Annotated[str | None, Query(description=(
        "Signed link: HMAC-SHA256 of the path and `exp` (from `hitl report --link`)."))] = None,
    exp: Annotated[str | None, Query(description=(
        "Signed link: expiry, Unix seconds."))] = None,
) -> None:
    """A signed link (`sig` or `exp` given) is checked alone: 403 when expired or altered.
    Without one, the bearer token is required as for every other /v1 route."""
    if sig is None and exp is None:
        require_token(rt, credentials)
        return
    verify(rt.settings, KPI_REPORT_PATH, sig, exp, rt.clock.now())


@kpi_router.get("/kpi", response_class=Response, responses=_RESPONSES,
                dependencies=[Depends(kpi_access)])
def latest_kpi(
    rt: RuntimeDep,
    format: Annotated[ReportFormat, Query(description="html (default), json or md")] = "html",
) -> Response:
    """The latest `hitl report`: speed to lead, SLA, approvals and edits, rejections, support.

    Opens with the bearer token, or in a browser from a signed, expiring link
    (`hitl report --link`, the Slack summary): `?sig=...&exp=...`."""
    return _serve(rt, "kpi", format)
