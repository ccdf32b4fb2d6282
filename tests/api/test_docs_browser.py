"""`/docs` and `/redoc` of a real `hitl serve`, rendered by headless Chromium with no network
beyond loopback (tests/api/chromium.py): the operations are rendered (not just the loader), the
event types' schemas are listed, and every asset came from the app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from agent.models import EventType
from api.openapi_events import component_name
from bench.server import ServerProcess
from tests.api.chromium import chromium_or_skip, open_page, start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# CDNs FastAPI's stock docs pages load from (and web fonts): none may be asked for.
REMOTE = ("jsdelivr", "unpkg", "fonts.googleapis", "fonts.gstatic", "tiangolo", "swagger.io")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, Path]]:
    binary = chromium_or_skip()
    folder = tmp_path_factory.mktemp("docs-browser")
    server = start_server(folder, token="docs-token", link_secret="docs-links")
    try:
        yield server, binary, folder
    finally:
        server.stop()


def _app_requests(page: Any, server: ServerProcess) -> dict[str, str | None]:
    return {url.removeprefix(server.url): status for url, status in page.requests
            if url.startswith(server.url)}


def test_swagger_ui_renders_every_operation_offline(served: Any) -> None:
    server, binary, folder = served
    page = open_page(binary, f"{server.url}/docs", folder / "chromium")
    rendered = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', page.dom))
    with server.client() as client:
        paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/v1/events", "/v1/approvals", "/v1/reports/kpi", "/healthz"} <= paths
    assert rendered == paths, f"not rendered: {paths - rendered}"
    for kind in get_args(EventType):  # each event type's schema is listed by name
        assert f">{component_name(kind)}<" in page.dom, kind
    loaded = _app_requests(page, server)
    for asset in ("/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
                  "/openapi.json"):
        assert loaded.get(asset) == "HTTP/1.1 200 OK", (asset, loaded)
    asked = " ".join(url for url, _ in page.requests)
    assert not [host for host in REMOTE if host in asked], asked


def test_redoc_renders_the_event_schema_offline(served: Any) -> None:
    server, binary, folder = served
    page = open_page(binary, f"{server.url}/redoc", folder / "chromium")
    rendered = set(re.findall(r'data-section-id="operation/([^"]+)"', page.dom))
    with server.client() as client:
        operations = {op["operationId"] for path in client.get("/openapi.json").json()[
            "paths"].values() for op in path.values()}
    assert len(operations) > 10 and rendered == operations, operations ^ rendered
    assert "page_view" in page.dom  # the event union, by its discriminator
    loaded = _app_requests(page, server)
    assert loaded.get("/docs/assets/redoc.standalone.js") == "HTTP/1.1 200 OK", loaded
    assert loaded.get("/openapi.json") == "HTTP/1.1 200 OK", loaded
    asked = " ".join(url for url, _ in page.requests)
    assert not [host for host in REMOTE if host in asked], asked
