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


def _fire(requests: list[PreparedRequest]) -> list[tuple[float, int, float]]:
    """In the child: one keep-alive connection per request (as concurrent clients would have),
    opened first; then every request written back to back from one thread, and the answers
    read as they come. Returns (ms, status, Retry-After seconds or 0) per request.

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
        results: list[tuple[float, int, float] | None] = [None] * len(conns)
        status: dict[int, int] = {}
        retry_after: dict[int, float] = {}
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
                            retry_after[index] = float(
                                dict(event.headers).get(b"retry-after", b"0") or 0)
                        elif isinstance(event, h11.EndOfMessage):
                            results[index] = ((time.monotonic() - started[index]) * 1000,
                                              status[index], retry_after[index])
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


MAX_RETRIES = 5


def _fire_retrying(requests: list[PreparedRequest]) -> tuple[list[tuple[float, int]], int]:
    """In the child: `_fire`, then the requests answered 429 sent again after the longest
    Retry-After among them, as API clients must, up to MAX_RETRIES rounds. A retried
    request's ms run from its first attempt (the waits included). Also returns the number of
    429s."""
    results = _fire(requests)
    spent = [0.0] * len(requests)  # ms of earlier attempts and waits, per request
    refused = 0
    for _ in range(MAX_RETRIES):
        again = [n for n, (_, status, _) in enumerate(results) if status == 429]
        if not again:
            break
        refused += len(again)
        pause = max(results[n][2] for n in again)
        time.sleep(pause)
        for n, answer in zip(again, _fire([requests[n] for n in again]), strict=True):
            spent[n] += results[n][0] + pause * 1000
            results[n] = answer
    return [(spent[n] + ms, status) for n, (ms, status, _) in enumerate(results)], refused


def _in_child(fire: Any, requests: list[PreparedRequest]) -> Any:
    import multiprocessing

    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fire, requests).result(timeout=300)


def burst(requests: list[PreparedRequest]) -> list[tuple[float, int]]:
    """Send every request at the same moment from a fresh process; (ms, status) in order."""
    if not requests:
        return []
    return [(ms, status) for ms, status, _ in _in_child(_fire, requests)]


def burst_retrying_refusals(requests: list[PreparedRequest]
                            ) -> tuple[list[tuple[float, int]], int]:
    """`burst`, each 429 answered sent again after its Retry-After (`_fire_retrying`):
    ((ms from the first attempt, final status) in order, number of 429s)."""
    if not requests:
        return [], 0
    results, refused = _in_child(_fire_retrying, requests)
    return results, refused
