"""Fire N prepared HTTP requests at once from a separate process and time each response.

Why a separate process: the bench process also hosts the fake Slack Web API, the fake model and
the SMTP sink. During a burst of clicks the server's worker calls those fakes (card updates,
emails), and they would compete for the bench process's interpreter lock with the threads
timing the responses, so the figure would include the load generator's own queueing. Slack's
servers do not share a lock with ours; neither does this load generator.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class PreparedRequest:
    base_url: str
    path: str
    body: bytes
    headers: dict[str, str]


def _fire(requests: list[PreparedRequest]) -> list[tuple[float, int]]:
    """In the child: one keep-alive client per request (as concurrent clients would be),
    connected first, then released together at a barrier. Returns (ms, status) per request."""
    import httpx

    clients = [httpx.Client(base_url=r.base_url, timeout=60) for r in requests]
    try:
        for client in clients:  # open the connections before the clock starts
            client.get("/healthz")
        barrier = threading.Barrier(len(requests))

        def one(index: int) -> tuple[float, int]:
            request = requests[index]
            barrier.wait()
            started = time.monotonic()
            response = clients[index].post(request.path, content=request.body,
                                           headers=request.headers)
            return (time.monotonic() - started) * 1000, response.status_code

        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            return list(pool.map(one, range(len(requests))))
    finally:
        for client in clients:
            client.close()


def burst(requests: list[PreparedRequest]) -> list[tuple[float, int]]:
    """Send every request at the same moment from a fresh process; (ms, status) in order."""
    if not requests:
        return []
    import multiprocessing

    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_fire, requests).result(timeout=300)
