"""Headless Chromium for the browser tests, with no network beyond loopback, and a real
`hitl serve` for it to open.

Chromium resolves no host name except 127.0.0.1 (`--host-resolver-rules`), and anything it still
tries to reach goes to a proxy on a port nothing listens on, loopback excepted
(`--proxy-server`, `--proxy-bypass-list`). So a page that needed the internet (a CDN script, a web
font) would fail to render. `--dump-dom` prints the DOM once the page has loaded and its scripts
ran (`--virtual-time-budget` lets their fetches finish first); `--log-net-log` records every
request the browser made and each response's status line, so a test also sees what was
loaded from where and the status the browser got.

The tests skip when Chromium is absent, unless HITL_REQUIRE_BROWSER is set (CI sets it: .ci/run),
in which case they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.server import ServerProcess, free_port, server_env

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_or_skip() -> str:
    """The Chromium binary; skip (or fail, with HITL_REQUIRE_BROWSER) when there is none."""
    found = os.environ.get("HITL_CHROMIUM") or next(
        (path for name in CANDIDATES if (path := shutil.which(name))), None)
    if found:
        return found
    message = "browser tests need Chromium (apt-get install chromium)"
    if os.environ.get("HITL_REQUIRE_BROWSER"):
        pytest.fail(f"HITL_REQUIRE_BROWSER is set but no Chromium was found: {message}")
    pytest.skip(message)


@dataclass
class Page:
    """What the browser made of one URL."""

    dom: str
    requests: list[tuple[str, str | None]]  # (url, response status line or None), in order

    def status_of(self, url_prefix: str) -> str | None:
        """The status line the browser got for the first request starting with the prefix."""
        return next((status for url, status in self.requests if url.startswith(url_prefix)),
                    None)


def open_page(binary: str, url: str, workdir: Path, *, budget_ms: int = 15_000) -> Page:
    """Load `url` in headless Chromium, loopback only; the rendered DOM and the requests."""
    workdir.mkdir(parents=True, exist_ok=True)
    profile = workdir / f"profile-{time.monotonic_ns()}"
    netlog = profile.with_suffix(".netlog.json")
    dead = free_port()  # nothing listens here: every proxied request fails at once
    args = [binary, "--headless=new", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--disable-default-apps", "--mute-audio",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--proxy-server=http://127.0.0.1:{dead}", "--proxy-bypass-list=127.0.0.1",
            f"--log-net-log={netlog}", f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses to sandbox as root
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return Page(dom=done.stdout, requests=_requests(netlog))


def _requests(netlog: Path) -> list[tuple[str, str | None]]:
    """(url, status line) of every URL request in a Chromium net log."""
    log = json.loads(netlog.read_text())
    kinds = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls: dict[int, str] = {}
    statuses: dict[int, str] = {}
    for event in log["events"]:
        source = event.get("source", {}).get("id")
        params = event.get("params") or {}
        kind = kinds.get(event.get("type"))
        if kind == "URL_REQUEST_START_JOB" and "url" in params:
            urls.setdefault(source, params["url"])
        elif kind == "HTTP_TRANSACTION_READ_RESPONSE_HEADERS" and params.get("headers"):
            statuses.setdefault(source, params["headers"][0])
    return [(url, statuses.get(source)) for source, url in urls.items()]


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_server(folder: Path, token: str, link_secret: str) -> ServerProcess:
    """`hitl serve` on loopback with the API token and link secret, HITL_PUBLIC_URL its own."""
    port = free_port()
    env = server_env({
        "HITL_DATABASE_URL": f"sqlite:///{folder / 'hitl.db'}",
        "HITL_CHROMA_PATH": str(folder / "chroma"), "HITL_EMBEDDINGS": "local",
        "HITL_REPORTS_DIR": str(folder / "reports"), "HITL_API_TOKEN": token,
        "HITL_LINK_SECRET": link_secret, "HITL_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    return ServerProcess(env, folder / "server", port=port, token=token).start()

