"""GET /v1/reports/eval and /v1/reports/kpi: behind the bearer token, 404 with a clear message
until a report exists, then the latest complete run, locked down by its Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from tests.conftest import TOKEN
from tests.evals.html_checks import assert_self_contained


@pytest.fixture
def api(rt: Any) -> Iterator[TestClient]:
    from api.app import create_app
    from api.deps import require_token
    from api.routers import reports

    app = create_app(rt)
    if not any(getattr(r, "path", "") == "/v1/reports/eval" for r in app.routes):
        # Until api/app.py includes the router, mount it the way the app mounts the others.
        app.include_router(reports.router, prefix="/v1", dependencies=[Depends(require_token)])
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def fake_run(kind: str, stamp: str) -> dict[str, Any]:
    return {"kind": kind, "run_id": f"{kind}-{stamp}-abcdef"}


def test_reports_need_the_token(api: TestClient) -> None:
    for path in ("/v1/reports/eval", "/v1/reports/kpi"):
        response = api.get(path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401


def test_404_with_a_clear_message_before_any_report(api: TestClient) -> None:
    response = api.get("/v1/reports/eval")
    assert response.status_code == 404
    assert response.json() == {"detail": "no eval report yet: run `hitl eval` to publish one"}
    assert api.get("/v1/reports/kpi").json()["detail"] == (
        "no kpi report yet: run `hitl report` to publish one")


def test_the_latest_complete_eval_report_is_served(api: TestClient, rt: Any) -> None:
    from reports.store import publish, reports_root

    root = reports_root(rt.settings)
    database = Path(rt.settings.database_url.removeprefix("sqlite:///"))
    assert root == database.parent / "reports"  # next to the SQLite database
    publish(root, "eval", fake_run("eval", "20261117T090000Z"), "<p>older</p>", "# older")
    publish(root, "eval", fake_run("eval", "20261118T090000Z"), "<p>newer</p>", "# newer")
    (root / "eval" / "eval-20261119T090000Z-halfwr").mkdir()  # no report.html yet: ignored
    response = api.get("/v1/reports/eval")
    assert response.status_code == 200
    assert response.text == "<p>newer</p>"
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-report-run-id"] == "eval-20261118T090000Z-abcdef"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    as_json = api.get("/v1/reports/eval", params={"format": "json"})
    assert as_json.json()["run_id"] == "eval-20261118T090000Z-abcdef"
    assert api.get("/v1/reports/eval", params={"format": "md"}).text == "# newer"
    assert api.get("/v1/reports/eval", params={"format": "pdf"}).status_code == 422


def test_the_kpi_report_of_the_store_is_served(api: TestClient, rt: Any) -> None:
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html, render_kpi_markdown
    from reports.store import publish, reports_root

    run = build_kpi_report(rt)
    publish(reports_root(rt.settings), "kpi", run, render_kpi_html(run),
            render_kpi_markdown(run))
    response = api.get("/v1/reports/kpi")
    assert response.status_code == 200 and "Handoff report" in response.text
    assert_self_contained(response.text)
    assert response.headers["x-report-run-id"] == run["run_id"]
