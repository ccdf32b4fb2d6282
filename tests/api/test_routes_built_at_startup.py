"""The app's routes are built when the app is, not by the first request.

FastAPI (since 0.137) builds an included router's routes (dependencies, body and response
models) the first time a request walks past them; the first request after a start walked past
all of them (the Slack route is matched last) and the first burst of Slack clicks waited on it.
`api.app.create_app` builds them all before it returns."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient

from tests.conftest import TOKEN


def test_no_request_builds_a_route(rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.app import create_app

    app = create_app(rt)
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
    assert built == []
