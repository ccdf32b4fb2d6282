"""Fire N prepared HTTP requests at once from a separate process and time each response.

Why a separate process: the bench process also hosts the fake Slack Web API, the fake model and
the SMTP sink. During a burst of clicks the server's worker calls those fakes (card updates,
emails), and they would compete for the bench process's interpreter lock with the threads
timing the responses, so the figure would include the load generator's own queueing. Slack's
servers do not share a lock with ours; neither does this load generator.
"""

from __future__ import annotations

import selectors
import socket
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class PreparedRequest:
    base_url: str
    path: str
    body: bytes
    headers: dict[str, str]


def _fire(requests: list[PreparedRequest]) -> list[tuple[float, int]]:
    """In the child: one keep-alive connection per request (as concurrent clients would have),
    opened first; then every request written back to back from one thread, and the answers
    read as they come. Returns (ms, status) per request.

    One thread and requests serialised beforehand, rather than a thread per request with an
    HTTP client: 50 client threads spend milliseconds each taking turns at this process's
    interpreter lock and building requests, and that queueing would be counted as the
    server's time. Here a request's clock starts just before its bytes are written."""
    import h11

    conns: list[tuple[socket.socket, h11.Connection]] = []
    wire: list[bytes] = []
    try:
        for request in requests:
            url = urlsplit(request.base_url)
            sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = h11.Connection(h11.CLIENT)
            host = url.netloc
            _exchange(sock, conn, h11.Request(method="GET", target="/healthz",
                                              headers=[("Host", host)]))
            conn.start_next_cycle()
            headers = [("Host", host), ("Content-Length", str(len(request.body))),
                       *request.headers.items()]
            wire.append(conn.send(h11.Request(method="POST", target=request.path,
                                              headers=headers))
                        + conn.send(h11.Data(data=request.body)) + conn.send(h11.EndOfMessage()))
            conns.append((sock, conn))

        started: list[float] = []
        for (sock, _), data in zip(conns, wire, strict=True):
            started.append(time.monotonic())
            sock.sendall(data)
        results: list[tuple[float, int] | None] = [None] * len(conns)
        status: dict[int, int] = {}
        with selectors.DefaultSelector() as selector:
            for index, (sock, _) in enumerate(conns):
                selector.register(sock, selectors.EVENT_READ, index)
            while selector.get_map():
                ready = selector.select(timeout=60)
                if not ready:
                    raise TimeoutError(f"{len(selector.get_map())} requests unanswered after 60 s")
                for key, _ in ready:
                    index = key.data
                    sock, conn = conns[index]
                    conn.receive_data(sock.recv(65536))
                    while (event := conn.next_event()) is not h11.NEED_DATA:
                        if isinstance(event, h11.Response):
                            status[index] = event.status_code
                        elif isinstance(event, h11.EndOfMessage):
                            results[index] = ((time.monotonic() - started[index]) * 1000,
                                              status[index])
                            selector.unregister(sock)
                            break
                        elif isinstance(event, h11.ConnectionClosed):
                            raise ConnectionError(f"request {index}: connection closed")
        return [r for r in results if r is not None]
    finally:
        for sock, _ in conns:
            sock.close()


def _exchange(sock: socket.socket, conn: Any, request: Any) -> None:
    """One whole request/response on a fresh connection (the warm-up before the clock)."""
    import h11

    sock.sendall(conn.send(request) + conn.send(h11.EndOfMessage()))
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
        elif isinstance(event, h11.EndOfMessage):
            return
        elif isinstance(event, h11.ConnectionClosed):
            raise ConnectionError("closed during the warm-up request")


def burst(requests: list[PreparedRequest]) -> list[tuple[float, int]]:
    """Send every request at the same moment from a fresh process; (ms, status) in order."""
    if not requests:
        return []
    import multiprocessing

    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_fire, requests).result(timeout=300)
