"""The isolation phase's load, run in child processes (bench/isolation.py starts them): the
support burst (every customer at once, a 429 retried after its Retry-After) and the probe
streams (health, one-event ingest, Slack clicks) timed from first byte written to full answer.
Kept apart from the phase so a spawned child imports only this and the standard library."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event as EventType

PROBE_EVERY_S = {"healthz": 0.02, "events": 0.1, "slack": 0.4}


@dataclass(frozen=True)
class Probe:
    """One request a probe stream sends: method, path, body, headers (all prepared here)."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sample:
    """One timed probe request."""

    kind: str
    sent_at: float  # time.monotonic(): one clock for every process on the machine
    ms: float
    status: int



def _connect(base_url: str) -> http.client.HTTPConnection:
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=120)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no delayed-ACK stalls
    return conn


def _send(conn: http.client.HTTPConnection, probe: Probe) -> tuple[int, dict[str, str]]:
    conn.request(probe.method, probe.path, body=probe.body or None, headers=probe.headers)
    response = conn.getresponse()
    response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}


def _probe_stream(base_url: str, kind: str, probes: list[Probe], every: float,
                  stop: EventType, out: list[Sample]) -> None:
    conn = _connect(base_url)
    n = 0
    while not stop.is_set() and (kind == "healthz" or n < len(probes)):
        probe = probes[n % len(probes)]
        n += 1
        started = time.monotonic()
        try:
            status, _ = _send(conn, probe)
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = _connect(base_url)
        out.append(Sample(kind, started, (time.monotonic() - started) * 1000, status))
        stop.wait(max(0.0, started + every - time.monotonic()))
    conn.close()


def run_probes(base_url: str, streams: dict[str, list[Probe]], ready: EventType,
               stop: EventType, results: Any) -> None:
    """Child process: one thread per stream until `stop`; the samples go to `results`."""
    out: list[Sample] = []
    threads = [threading.Thread(target=_probe_stream,
                                args=(base_url, kind, probes, PROBE_EVERY_S[kind], stop, out))
               for kind, probes in streams.items()]
    for t in threads:
        t.start()
    ready.set()
    for t in threads:
        t.join()
    results.put([asdict(s) for s in out])


def run_burst(base_url: str, turns: list[Probe], results: Any) -> None:
    """Child process: every turn at once, one connection and thread each; a 429 waits its
    Retry-After and asks again. Puts (started, ended, [(ms, status, refusals)])."""
    conns = [_connect(base_url) for _ in turns]
    gate = threading.Barrier(len(turns) + 1)
    answers: list[tuple[float, int, int]] = [(0.0, 0, 0)] * len(turns)

    def customer(n: int) -> None:
        gate.wait()
        started, refused = time.monotonic(), 0
        status = 0
        while True:
            try:
                status, headers = _send(conns[n], turns[n])
            except (OSError, http.client.HTTPException):
                status = 0
                break
            if status != 429:
                break
            refused += 1
            time.sleep(float(headers.get("retry-after", "1")))
        answers[n] = ((time.monotonic() - started) * 1000, status, refused)

    threads = [threading.Thread(target=customer, args=(n,)) for n in range(len(turns))]
    for t in threads:
        t.start()
    gate.wait()
    began = time.monotonic()
    for t in threads:
        t.join()
    ended = time.monotonic()
    for conn in conns:
        conn.close()
    results.put((began, ended, answers))

