"""A signed KPI report link opened by headless Chromium against a real `hitl serve`, with no
network beyond loopback and no bearer header (tests/api/chromium.py): the link printed by
`hitl report --link` renders the report with its charts (inline SVG); an expired or altered link
gets 403 in the browser."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.server import ServerProcess
from service.report_links import ALTERED, EXPIRED, signed_url
from tests.api.chromium import chromium_or_skip, open_page, start_server, wait_for
from tests.conftest import assert_fresh, hand_raise, make_settings, recent

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = "browser-link-secret"


def _hitl(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hitl.cli", *args], env=server.env,
                          cwd=server.workdir, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, Path]]:
    """A server with one hand-raise carded, and a KPI report published by `hitl report`."""
    binary = chromium_or_skip()
    folder = tmp_path_factory.mktemp("report-browser")
    server = start_server(folder, token="report-token", link_secret=SECRET)
    try:
        with server.client() as client:
            events = hand_raise("browser", at=recent())
            assert_fresh(events)
            accepted = client.post("/v1/events", json={"events": events})
            assert accepted.status_code == 202, accepted.text
            wait_for("the approval card", lambda: client.get("/v1/approvals").json())
        built = _hitl(server, "report", "--no-style-examples")
        assert built.returncode == 0, built.stderr
        yield server, binary, folder
    finally:
        server.stop()


def test_the_printed_link_renders_the_report_with_its_charts(served: Any) -> None:
    server, binary, folder = served
    printed = _hitl(server, "report", "--link", "--hours", "1")
    assert printed.returncode == 0, printed.stderr
    url = printed.stdout.strip()
    assert url.startswith(f"{server.url}/v1/reports/kpi?sig=")
    page = open_page(binary, url, folder / "chromium", budget_ms=3_000)
    assert page.status_of(url) == "HTTP/1.1 200 OK", page.requests
    assert "<h1>Handoff report</h1>" in page.dom
    assert "No handoffs in this window yet" not in page.dom  # the hand-raise is counted
    charts = page.dom.split('<div class="chart">')[1:]
    assert charts and all(chart.lstrip().startswith("<svg") for chart in charts), page.dom[:2000]
    # The report loads nothing (its CSP forbids it): the one request is the link itself.
    assert [u for u, _ in page.requests if u.startswith(server.url)] == [url]


def test_an_expired_or_altered_link_gets_403_in_the_browser(served: Any, tmp_path: Path) -> None:
    server, binary, folder = served
    settings = make_settings(tmp_path, link_secret=SECRET, public_url=server.url)
    expired, _ = signed_url(settings, datetime.now(UTC) - timedelta(hours=2), hours=1)
    page = open_page(binary, expired, folder / "chromium", budget_ms=1_000)
    assert page.status_of(expired) == "HTTP/1.1 403 Forbidden", page.requests
    assert EXPIRED.split(":")[0] in page.dom and "<svg" not in page.dom

    good, _ = signed_url(settings, datetime.now(UTC), hours=1)
    altered = good.replace("exp=", "exp=1")  # pushed centuries out
    page = open_page(binary, altered, folder / "chromium", budget_ms=1_000)
    assert page.status_of(altered) == "HTTP/1.1 403 Forbidden", page.requests
    assert ALTERED.split("(")[0].strip() in page.dom and "<svg" not in page.dom
