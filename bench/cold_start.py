"""The bench's cold-start phase: `hitl serve` spawned -> `/readyz` 200 -> first approval card.

A server of its own on the embedded defaults (SQLite, embedded Chroma with the shipped content
library, the offline drafter: no `OPENAI_*`), with the local Slack fake, so "a card" is the
`chat.postMessage` of an approval card, what a rep sees. The store is migrated and the library
indexed beforehand, as on any start after the first (a restart, a deploy).

- `cold_start_s`: from `Popen` to the first 200 of `/readyz` (polled every 20 ms);
- `first_card_s`: from that 200 to the card of a hand-raise posted right after it.

Python's compiled bytecode decides much of a start (compiling the libraries' sources costs
about as much as importing them). The server is started twice with a bytecode cache of its own
(`PYTHONPYCACHEPREFIX` in the work folder): the first start finds it empty and compiles
everything (`cold_start_uncached_s`, what a start costs where no bytecode was ever written,
e.g. under `PYTHONDONTWRITEBYTECODE` with an install that shipped none); the second is every
later start of an installed server, and gives the two figures with goals. The same on every
host, whatever its environment or its virtualenv's `__pycache__` folders hold.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from bench.fake_slack import FakeSlack
    from bench.harness import Bench
    from bench.server import ServerProcess

SLACK_TOKEN = "xoxb-cold-start"
SLACK_SECRET = "cold-start-signing-secret"
POLL_S = 0.02

COLD_START_METHOD = (
    "`hitl serve` (worker child, embedded SQLite + Chroma, offline drafter, Slack fake) spawned "
    "on a migrated, indexed store; time from Popen to the first 200 of /readyz (polled every "
    "20 ms); second start, with the bytecode the first one wrote")
FIRST_CARD_METHOD = (
    "a hand-raise POSTed the moment /readyz turned 200; time from that 200 to its approval "
    "card's chat.postMessage at the Slack fake")
UNCACHED_METHOD = (
    "the same spawn -> /readyz 200 on the first start, with an empty bytecode cache (every "
    "module compiled from source)")


@dataclass
class StartTiming:
    cold_start_s: float
    first_card_s: float
    healthz_s: float | None  # spawn -> first /healthz 200 (liveness), for context
    cpu_s_at_ready: dict[str, float]  # CPU each process used until ready (load-independent)
    not_ready_reason: str | None  # what /readyz said last before 200


def time_one_start(workdir: Path, env: dict[str, str], slack: FakeSlack, name: str, *,
                   timeout: float = 120.0) -> StartTiming:
    """Spawn one `hitl serve`, time it to ready and to its first card, stop it."""
    from bench.server import ServerProcess
    from bench.workload import hand_raise_events

    server = ServerProcess(env, workdir / name, name=name)
    cards_before = len(slack.card_posted_at())
    healthz_at: float | None = None
    reason: str | None = None
    try:
        spawned = time.monotonic()
        server.start(wait=0)
        with httpx.Client(base_url=server.url, timeout=2) as probe:
            while True:
                if server.process is not None and server.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {server.process.returncode}:"
                                       f"\n{server.log_tail()}")
                if time.monotonic() > spawned + timeout:
                    raise TimeoutError(f"/readyz not 200 after {timeout:.0f} s ({reason})"
                                       f"\n{server.log_tail()}")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    if healthz_at is None and probe.get("/healthz").status_code == 200:
                        healthz_at = time.monotonic()
                    answer = probe.get("/readyz")
                    if answer.status_code == 200:
                        break
                    reason = answer.json().get("reason")
                time.sleep(POLL_S)
        ready_at = time.monotonic()
        cpu_at_ready = _cpu_by_process(server)
        with server.client() as client:
            body = json.dumps({"events": hand_raise_events(secrets.token_hex(3), name, 0)})
            posted = client.post("/v1/events", content=body,
                                 headers={"Content-Type": "application/json"})
            if posted.status_code != 202:
                raise RuntimeError(f"POST /v1/events answered {posted.status_code}: "
                                   f"{posted.text[:300]}")
        cards = slack.wait_for_cards(cards_before + 1, timeout=timeout)
        card_at = max(cards.values())
    finally:
        server.stop()
    return StartTiming(cold_start_s=ready_at - spawned, first_card_s=card_at - ready_at,
                       healthz_s=None if healthz_at is None else healthz_at - spawned,
                       cpu_s_at_ready=cpu_at_ready, not_ready_reason=reason)


def _is_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _cpu_by_process(server: ServerProcess) -> dict[str, float]:
    """User + system CPU seconds of the server ("web") and each worker child so far."""
    import psutil

    out: dict[str, float] = {}
    with contextlib.suppress(psutil.Error):
        web = psutil.Process(server.pid)
        for n, one in enumerate((web, *web.children())):
            times = one.cpu_times()
            out["web" if n == 0 else f"worker{n}"] = round(times.user + times.system, 2)
    return out


def measure(workdir: Path, *, timeout: float = 120.0) -> tuple[StartTiming, StartTiming]:
    """(first start with an empty bytecode cache, second start with the cache it wrote)."""
    from bench.fake_slack import FakeSlack
    from bench.server import prepare_store, server_env

    values = prepare_store(workdir)
    with FakeSlack(token=SLACK_TOKEN) as slack:
        env = server_env({**values, "HITL_API_TOKEN": "cold-" + secrets.token_hex(8),
                          "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SECRET,
                          "SLACK_API_URL": slack.url,
                          "PYTHONPYCACHEPREFIX": str(workdir / "bytecode")})
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        uncached = time_one_start(workdir, env, slack, "first-start", timeout=timeout)
        cached = time_one_start(workdir, env, slack, "restart", timeout=timeout)
    return uncached, cached


def phase_cold_start(bench: Bench) -> None:
    """The bench's step: the figures into `bench.report`."""
    for server in bench.servers:  # their workers' own start must not share the cores with ours
        url = server.url
        bench.wait_until(f"{server.name} ready", partial(_is_ready, url))
    uncached, cached = measure(bench.workdir / "cold-start", timeout=bench.config.timeout)
    report = bench.report
    report.add("cold_start_s", cached.cold_start_s, COLD_START_METHOD)
    report.add("first_card_s", cached.first_card_s, FIRST_CARD_METHOD)
    report.add("cold_start_uncached_s", uncached.cold_start_s, UNCACHED_METHOD)
    report.details["cold_start"] = {"restart": asdict(cached), "first_start": asdict(uncached),
                                    "host_disables_bytecode_writes": bool(
                                        os.environ.get("PYTHONDONTWRITEBYTECODE"))}


if __name__ == "__main__":  # python -m bench.cold_start: the phase alone
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hitl-cold-") as folder:
        first, second = measure(Path(folder))
    print(json.dumps({"first_start": asdict(first), "restart": asdict(second)}, indent=2))
