"""The latest eval and KPI reports, as published by `hitl eval` and `hitl report`.

Reports are files in the report store (`reports.store`): the newest complete run of each
kind is served as the self-contained HTML page, or as its JSON or Markdown with `?format=`.
The HTML carries a Content-Security-Policy that forbids every remote load and every script, so
lead-supplied text quoted in a report can never reach out or run.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from api.deps import RuntimeDep
from reports.store import HTML_NAME, JSON_NAME, MARKDOWN_NAME, ReportKind, latest, reports_root
from service.errors import NotFound

router = APIRouter(prefix="/reports", tags=["reports"])

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


@router.get("/kpi", response_class=Response, responses=_RESPONSES)
def latest_kpi(
    rt: RuntimeDep,
    format: Annotated[ReportFormat, Query(description="html (default), json or md")] = "html",
) -> Response:
    """The latest `hitl report`: speed to lead, SLA, approvals and edits, rejections, support."""
    return _serve(rt, "kpi", format)
