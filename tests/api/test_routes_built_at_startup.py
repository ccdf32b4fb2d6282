"""`hitl serve` builds the app's routes before it serves, not on the first request.

FastAPI (since 0.137) builds an included router's routes (dependencies, body and response
models) the first time a request walks past them; the first request after a start walked past
all of them (the Slack route is matched last) and the first burst of Slack clicks waited on it.
`api.app.build_routes` builds them all, and `hitl serve` calls it before it freezes its startup
objects. `create_app` alone keeps FastAPI's default (the suite builds an app per test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient

from tests.conftest import TOKEN


def _routes_built_by_requests(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    built: list[str] = []
    build = fastapi.routing._populate_api_route_state

    def counted(route: Any, path: str, *args: Any, **kwargs: Any) -> Any:
        built.append(path)
        return build(route, path, *args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "_populate_api_route_state", counted)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        # A path no route takes walks past every route; then an included router's route.
        assert client.get("/no-such-route").status_code == 404
        assert client.get("/v1/approvals").status_code == 200
        assert client.get("/v1/leads/nobody").status_code == 404
    return built


def test_built_routes_leave_no_route_to_the_first_request(
        rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.app import build_routes, create_app

    assert _routes_built_by_requests(build_routes(create_app(rt)), monkeypatch) == []


def test_without_it_the_first_request_builds_them(rt: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from api.app import create_app

    built = _routes_built_by_requests(create_app(rt), monkeypatch)
    assert "/v1/approvals" in built  # what the test above proves `build_routes` spares


def test_hitl_serve_serves_an_app_whose_routes_are_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    import hitl.commands.serve as serve
    from hitl.cli import app as cli

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **_: served.update(app=application))
    # This test process is not a server: its objects are not frozen, its allocator not tuned.
    monkeypatch.setattr(serve, "_freeze_startup_objects", lambda: None)
    monkeypatch.setattr(serve, "_limit_malloc_arenas", lambda: None)
    monkeypatch.setenv("HITL_DATABASE_URL", f"sqlite:///{tmp_path / 'hitl.db'}")
    monkeypatch.setenv("HITL_CHROMA_PATH", str(tmp_path / "chroma"))
    monkeypatch.setenv("HITL_API_TOKEN", TOKEN)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["serve", "--worker", "none"])
    assert result.exit_code == 0, result.output
    assert _routes_built_by_requests(served["app"], monkeypatch) == []
