"""`bench.burst.burst_retrying_refusals`: a request answered 429 is sent again after the
Retry-After it was given, until it is answered otherwise, and the refusals are counted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.burst import PreparedRequest, burst, burst_retrying_refusals


class _Edge(BaseHTTPRequestHandler):
    """Refuses each path's first `refusals[path]` POSTs with 429, Retry-After 0."""

    protocol_version = "HTTP/1.1"
    refusals: dict[str, int] = {}
    seen: list[str] = []
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802  (the burst's warm-up request)
        self._answer(200, {})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            self.seen.append(self.path)
            left = self.refusals.get(self.path, 0)
            self.refusals[self.path] = left - 1
        if left > 0:
            self._answer(429, {"Retry-After": "0"})
        else:
            self._answer(200, {})

    def _answer(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": "0"}.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def edge() -> Iterator[str]:
    _Edge.refusals, _Edge.seen = {"/a": 0, "/b": 1, "/c": 2}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Edge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _calls(base_url: str) -> list[PreparedRequest]:
    return [PreparedRequest(base_url, path, b"{}", {"Content-Type": "application/json"})
            for path in ("/a", "/b", "/c")]


def test_refused_requests_are_sent_again_until_answered(edge: str) -> None:
    results, refused = burst_retrying_refusals(_calls(edge))
    assert [status for _, status in results] == [200, 200, 200]
    assert refused == 3  # /b once, /c twice
    assert sorted(_Edge.seen) == ["/a", "/b", "/b", "/c", "/c", "/c"]


def test_a_plain_burst_reports_the_refusals_as_they_came(edge: str) -> None:
    assert [status for _, status in burst(_calls(edge))] == [200, 429, 429]
    assert sorted(_Edge.seen) == ["/a", "/b", "/c"]
