"""The bench's harness: its configuration, the fakes and `hitl serve` children it starts, and
the plumbing every phase uses (round-robin clients, waits, hand-raise posts).

`Bench._setup` starts a local OpenAI-compatible fake, the Slack Web API fake, an SMTP sink,
the store (SQLite file, or a fresh PostgreSQL database) with its migrations, optionally a Chroma
server, and the `hitl serve` replicas; `Bench._stop_all` stops the servers. The phases
(bench/phases.py and the modules beside it) and their order (bench/runner.py) live elsewhere.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.probe import StoreProbe
from bench.report import BenchReport
from bench.server import ServerProcess, free_port, server_env

ProgressFn = Callable[[str, float], None]  # (phase description, fraction of the run done)

SLACK_TOKEN = "xoxb-bench"
SLACK_SECRET = "bench-signing-secret"


@dataclass
class BenchConfig:
    events: int = 20_000
    batch_size: int = 1000
    ingest_clients: int = 4
    naive_events: int | None = None
    card_leads: int | None = None
    card_rate: float = 20.0
    latency: float = 0.25
    llm_latency: float = 1.0
    llm_leads: int | None = None
    burst: int | None = None
    burst_latency: float = 0.5
    serial_sample: int | None = None
    interactions: int | None = None
    history: int = 500
    postgres: str | None = None
    replicas: int = 1
    worker_threads: int | None = None
    worker_processes: int = 1
    embeddings: str = "local"
    chroma_server: bool | None = None
    workdir: Path | None = None
    keep: bool = False
    quick: bool = False
    timeout: float = 180.0

    def resolved(self) -> BenchConfig:
        """Fill the sizes left unset: full sizes, or small ones with `quick`."""
        if self.replicas > 1 and not self.postgres:
            raise ValueError("--replicas above 1 needs --postgres: one `hitl serve` per SQLite "
                             "file (a second refuses to start)")
        q = self.quick
        return BenchConfig(**{
            **asdict(self),
            "naive_events": self.naive_events or max(20, min(1000, self.events // 10)),
            "card_leads": self.card_leads or (20 if q else 200),
            "llm_leads": self.llm_leads or (2 if q else 10),
            "burst": self.burst or (20 if q else 100),
            "serial_sample": self.serial_sample or (2 if q else 5),
            "interactions": self.interactions or (10 if q else 50),
            "chroma_server": (self.postgres is not None or self.replicas > 1)
            if self.chroma_server is None else self.chroma_server,
        })




@dataclass
class Lead:
    """One lead the bench posted, and when its approval card reached Slack."""

    lead_id: str
    posted_at: float
    email: str = ""
    approval_id: str | None = None
    card_at: float | None = None

    @property
    def signal_to_card(self) -> float | None:
        return None if self.card_at is None else self.card_at - self.posted_at


@dataclass
class Bench:
    """One bench run's servers, fakes, clients and report (see the module docstring)."""

    config: BenchConfig
    progress: ProgressFn = lambda _d, _f: None
    report: BenchReport = field(default_factory=BenchReport)
    run: str = field(default_factory=lambda: secrets.token_hex(3))

    def __post_init__(self) -> None:
        self.config = self.config.resolved()
        self.servers: list[ServerProcess] = []
        self.clients: list[httpx.Client] = []
        self._rr = itertools.count()
        self._rr_lock = threading.Lock()
        self.accepted = 0
        self._accepted_lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------

    def client(self) -> httpx.Client:
        """The next server's client, round-robin (the bench is the load balancer)."""
        with self._rr_lock:
            return self.clients[next(self._rr) % len(self.clients)]

    def post_events(self, body: bytes, client: httpx.Client | None = None) -> dict[str, Any]:
        response = (client or self.client()).post(
            "/v1/events", content=body, headers={"Content-Type": "application/json"})
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/events answered {response.status_code}: "
                               f"{response.text[:300]}")
        data = response.json()
        with self._accepted_lock:
            self.accepted += int(data["accepted"])
        return data  # type: ignore[no-any-return]

    def wait_until(self, what: str, predicate: Callable[[], bool], timeout: float | None = None,
                   interval: float = 0.1) -> float:
        """Poll until `predicate()`; returns when (monotonic). Raises naming `what`."""
        deadline = time.monotonic() + (timeout or self.config.timeout)
        while True:
            if predicate():
                return time.monotonic()
            if time.monotonic() > deadline:
                failed = self.probe.failed_jobs()
                raise TimeoutError(f"timed out waiting for {what}"
                                   + (f"; failed jobs: {failed[:3]}" if failed else "")
                                   + f"\n{self.servers[0].log_tail(15)}")
            time.sleep(interval)

    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds() for s in self.servers)

    def wait_drained(self, timeout: float | None = None) -> float:
        return self.wait_until("the worker to drain its queue",
                               lambda: self.probe.open_jobs() == 0, timeout, interval=0.05)

    def wait_cards(self, leads: list[Lead], timeout: float | None = None) -> None:
        """Until every lead has a version-1 approval with a card posted in Slack."""
        want = {lead.lead_id: lead for lead in leads}

        def ready() -> bool:
            missing = [lead for lead in want.values() if lead.card_at is None]
            if not missing:
                return True
            by_lead = {v[0]: k for k, v in self.probe.approvals().items() if v[3] == 1}
            cards = self.slack.card_posted_at()
            for lead in missing:
                approval_id = by_lead.get(lead.lead_id)
                if approval_id and approval_id in cards:
                    lead.approval_id, lead.card_at = approval_id, cards[approval_id]
            return all(lead.card_at is not None for lead in want.values())

        self.wait_until(f"approval cards for {len(want)} leads", ready, timeout, interval=0.05)

    def post_hand_raises(self, tag: str, indices: range | list[int]) -> list[Lead]:
        """One POST of these leads' hand-raise events; posted_at is just before sending."""
        from bench.workload import hand_raise_events

        events = [e for i in indices for e in hand_raise_events(self.run, tag, i)]
        leads: list[Lead] = []
        for start in range(0, len(events), self.config.batch_size):
            body = json.dumps({"events": events[start:start + self.config.batch_size]}).encode()
            posted = time.monotonic()
            data = self.post_events(body)
            leads += [Lead(ref["lead_id"], posted, ref["email"]) for ref in data["leads"]]
        return leads

    # -- setup and teardown ------------------------------------------------------------------

    def _setup(self, stack: contextlib.ExitStack) -> None:
        from bench.fake_openai import FakeOpenAI
        from bench.fake_slack import FakeSlack
        from tools.smtp_sink import SmtpSink

        cfg = self.config
        _stop_on_sigterm(stack)
        self.progress("starting the fakes, the store and the server", 0.0)
        if cfg.workdir is not None:
            self.workdir = cfg.workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="hitl-bench-"))
            if not cfg.keep:
                stack.callback(shutil.rmtree, self.workdir, True)
        self.sink = stack.enter_context(SmtpSink())
        self.model = stack.enter_context(FakeOpenAI(latency=cfg.latency))
        self.slack = stack.enter_context(FakeSlack(token=SLACK_TOKEN))

        if cfg.postgres:
            self.db_url = create_database(cfg.postgres, f"hitl_bench_{self.run}")
            if not cfg.keep:
                stack.callback(drop_database, cfg.postgres, f"hitl_bench_{self.run}")
        else:
            self.db_url = f"sqlite:///{self.workdir / 'hitl.db'}"
        chroma_url = self._start_chroma_server(stack) if cfg.chroma_server else None
        token = "bench-" + secrets.token_hex(8)
        values: dict[str, str | None] = {
            "HITL_DATABASE_URL": self.db_url,
            "HITL_CHROMA_PATH": str(self.workdir / "chroma"),
            "HITL_CHROMA_URL": chroma_url,
            "HITL_API_TOKEN": token,
            "OPENAI_BASE_URL": self.model.url,
            "OPENAI_API_KEY": "bench-key",
            "HITL_EMBEDDINGS": cfg.embeddings,
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_API_URL": self.slack.url,
            "HITL_SMTP_URL": self.sink.url,
            "HITL_WORKER_THREADS": str(cfg.worker_threads) if cfg.worker_threads else None,
            "HITL_WORKER_PROCESSES": str(cfg.worker_processes),
        }
        self.env = server_env(values)
        indexed = self._index_content(values)
        self.report.details["content_assets_indexed"] = indexed
        from store.db import Database

        # Migrations once, before the replicas start (as a release step would).
        database = Database(self.db_url)
        database.upgrade()
        database.dispose()
        self.probe = StoreProbe(self.db_url)
        stack.callback(self.probe.dispose)
        started = time.monotonic()
        for n in range(cfg.replicas):
            server = ServerProcess(self.env, self.workdir / f"replica{n}", name=f"replica{n}",
                                   token=token)
            self.servers.append(server)
        threads = [threading.Thread(target=s.start) for s in self.servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for server in self.servers:
            server.wait_healthy(5)
        self.report.details["server_start_s"] = round(time.monotonic() - started, 2)
        self.clients = [s.client() for s in self.servers]

    def _start_chroma_server(self, stack: contextlib.ExitStack) -> str | None:
        chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or \
            shutil.which("chroma")
        if chroma is None:
            self.report.notes.append("no `chroma` executable: replicas share an embedded Chroma")
            return None
        port = free_port()
        log = (self.workdir / "chroma.log").open("ab")
        process = subprocess.Popen(
            [chroma, "run", "--path", str(self.workdir / "chroma-server"), "--host",
             "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
            cwd=self.workdir, start_new_session=True)
        log.close()

        def stop() -> None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

        stack.callback(stop)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return url
            time.sleep(0.1)
        raise RuntimeError("the Chroma server did not start (see chroma.log in the workdir)")

    def _index_content(self, values: dict[str, str | None]) -> int:
        """Index the shipped content library into the Chroma the servers will use."""
        from config.settings import DEFAULTS_DIR, load_settings
        from tools.content_library import ContentLibrary, open_chroma
        from tools.embeddings import build_embedding_function

        settings = load_settings(
            database_url=self.db_url, chroma_path=Path(values["HITL_CHROMA_PATH"] or "chroma"),
            chroma_url=values["HITL_CHROMA_URL"], openai_base_url=values["OPENAI_BASE_URL"],
            openai_api_key=values["OPENAI_API_KEY"], embeddings=values["HITL_EMBEDDINGS"],
            slack_bot_token=None, slack_signing_secret=None, slack_app_token=None,
            api_token=None, smtp_url=None)
        library = ContentLibrary(open_chroma(settings), build_embedding_function(settings))
        library.index_folder(DEFAULTS_DIR / "content")
        return library.count()

    def _stop_all(self) -> None:
        for client in self.clients:
            client.close()
        stoppers = [threading.Thread(target=s.stop) for s in self.servers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()

    def post_all(self, bodies: list[bytes]) -> float:
        """POST every body with `ingest_clients` concurrent clients; returns the wall time."""
        queue = iter(bodies)
        lock = threading.Lock()
        errors: list[BaseException] = []

        def worker(client: httpx.Client) -> None:
            while True:
                with lock:
                    body = next(queue, None)
                if body is None:
                    return
                try:
                    self.post_events(body, client)
                except BaseException as exc:  # surfaced after the join
                    errors.append(exc)
                    return

        workers = [threading.Thread(target=worker, args=(self.clients[n % len(self.clients)],))
                   for n in range(self.config.ingest_clients)]
        started = time.monotonic()
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        wall = time.monotonic() - started
        if errors:
            raise errors[0]
        return wall


def cores() -> int:
    """CPU cores this process may run on."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def _admin(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    """Create database `name` on the server of `admin_url`; its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(_admin(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(drivername="postgresql+psycopg", database=name) \
        .render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name`, even with connections left (best effort, at teardown)."""
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(_admin(admin_url),
                                                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')



def _stop_on_sigterm(stack: contextlib.ExitStack) -> None:
    """A SIGTERM (`kill`, `timeout`, a CI runner giving up) ends the bench like Ctrl-C does:
    as an exception, so `stack` stops the servers. Python's default is to die on the spot, and
    the `hitl serve` replicas (each in its own session) went on working through the burst's
    backlog, loading the host under every measurement taken after. Main thread only (where
    Python delivers signals); the previous handler is put back when the stack closes."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    stack.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, stop))
