"""The bench's isolation phase: a burst of support turns must not starve the other route families.

A server of its own (fresh SQLite + embedded Chroma with the shipped library, the model at the
local OpenAI fake, the Slack fake, the SMTP sink), so the figures do not depend on what earlier
phases left queued. Then, measured from the outside:

- the burst: `messages` customers (one conversation each) POST a question at the same moment,
  from a separate process; a customer refused with 429 waits the `Retry-After` it was given and
  asks again, as a widget would, until every message is answered: support stays saturated for
  the whole burst instead of being refused once;
- meanwhile, from another process (so neither the burst's threads nor the fakes in this process
  queue the probes behind them): `GET /healthz` every 20 ms, a one-event `POST /v1/events`
  every 100 ms, and a signed Slack `block_actions` (Approve on a pending card, by its assignee)
  every 400 ms, each timed from its first byte written to its full answer.

Only probes sent while the burst runs are counted. Goals (issue 12.5): `/healthz` p99 <= 100 ms,
`POST /v1/events` p99 <= 500 ms, Slack acks <= 1 s.

Run alone: `python -m bench.isolation [--messages N] [--latency S]`.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.isolation_load import Probe, Sample, run_burst, run_probes

if TYPE_CHECKING:
    from bench.fake_openai import FakeOpenAI
    from bench.fake_slack import FakeSlack
    from bench.harness import Bench
    from bench.server import ServerProcess

SLACK_TOKEN = "xoxb-isolation"
SLACK_SECRET = "isolation-signing-secret"
QUESTIONS = ("How do I reset my password?", "How do I export my data?",
             "Can I change my plan in the middle of the month?", "How do I set up SSO?",
             "Where can I find my invoices?", "How does the Slack integration work?")
CARDS = 60  # pending cards, one Approve click each: 24 s of Slack probes
QUICK_MESSAGES, QUICK_CARDS = 40, 10  # `hitl bench --quick`: a smoke run
EVENT_PROBES = 600  # one-event POSTs: 60 s of ingest probes

GOAL_KEYS = ("isolation_healthz_ms_p99", "isolation_events_ms_p99",
             "isolation_slack_ack_ms_p99")
METHOD = (
    "{messages} support messages POSTed at once to a fresh `hitl serve` (one conversation "
    "each, model fake at {latency:g} s; a 429 is retried after its Retry-After) from one "
    "process; meanwhile, from another, GET /healthz every 20 ms, a one-event POST /v1/events "
    "every 100 ms and a signed Approve click every 400 ms; p99 of {what} sent while the burst "
    "ran, first byte written to full answer")


@dataclass
class IsolationResult:
    """One isolation measurement: the burst's outcome and the probes' percentiles."""

    messages: int
    latency_s: float
    burst_s: float
    support_status: dict[str, int]
    support_refusals: int  # 429s the customers got (each retried after its Retry-After)
    support_ms_p50: float
    support_ms_p99: float
    probes: dict[str, dict[str, float | int]]
    settings: dict[str, str]

    def figure(self, kind: str, key: str = "ms_p99") -> float:
        return float(self.probes.get(kind, {}).get(key, float("nan")))


def _pending_clicks(server: ServerProcess, slack: FakeSlack, run: str, count: int,
                    timeout: float) -> list[Probe]:
    """`count` hand-raises drafted into cards; a signed Approve click on each, by its assignee."""
    from bench.slack_side import SlackSide, user_of_dm
    from bench.workload import hand_raise_events

    events = [e for i in range(count) for e in hand_raise_events(run, "iso", i)]
    with server.client() as client:
        posted = client.post("/v1/events", json={"events": events})
        if posted.status_code != 202:
            raise RuntimeError(f"POST /v1/events answered {posted.status_code}: "
                               f"{posted.text[:300]}")
        deadline = time.monotonic() + timeout
        while True:
            pending = client.get("/v1/approvals", params={"status": "pending"}).json()
            ready = [a for a in pending if slack.card(a["approval_id"]) is not None]
            if len(ready) >= count:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ready)} of {count} cards after {timeout:.0f} s\n"
                                   f"{server.log_tail(15)}")
            time.sleep(0.2)
    side = SlackSide(None, SLACK_SECRET)
    clicks: list[Probe] = []
    for approval in ready[:count]:
        message = slack.card(approval["approval_id"]) or {}
        channel = str(message.get("channel", ""))
        user = user_of_dm(channel) if channel.startswith("D") else approval["assignee"]
        body, headers = side.signed(side.click_body(message, "Approve", user),
                                    "application/x-www-form-urlencoded")
        clicks.append(Probe("POST", "/slack/events", body, headers))
    return clicks


def _event_probes(run: str, count: int, token: str) -> list[Probe]:
    from bench.workload import ingest_events

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return [Probe("POST", "/v1/events", json.dumps(e).encode(), headers)
            for e in ingest_events(run, count, per_lead=1, prefix="iso-probe")]


def _turns(run: str, count: int, token: str) -> list[Probe]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return [Probe("POST", f"/v1/conversations/iso-{run}-{n}/messages", json.dumps({
        "text": QUESTIONS[n % len(QUESTIONS)],
        "customer": {"email": f"customer{n}@iso-{run}.example.com", "name": f"Customer {n}"},
    }).encode(), headers) for n in range(count)]


def _percentiles(values: list[float]) -> dict[str, float]:
    from bench.report import percentile

    return {"ms_p50": round(percentile(values, 50), 1), "ms_p99": round(percentile(values, 99), 1),
            "ms_max": round(max(values), 1) if values else float("nan")}


def measure(workdir: Path, model: FakeOpenAI, slack: FakeSlack, *, smtp_url: str | None = None,
            messages: int = 200, cards: int = CARDS, latency: float = 0.5,
            timeout: float = 180.0, extra_env: dict[str, str] | None = None
            ) -> IsolationResult:
    """Start a server in `workdir`, run the burst and the probes, stop the server."""
    import multiprocessing

    from bench.server import ServerProcess, prepare_store, server_env

    run = secrets.token_hex(3)
    token = "iso-" + secrets.token_hex(8)
    values = prepare_store(workdir)
    env = server_env({**values, "HITL_API_TOKEN": token, "OPENAI_BASE_URL": model.url,
                      "OPENAI_API_KEY": "bench-key", "SLACK_BOT_TOKEN": slack.token,
                      "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_API_URL": slack.url,
                      "HITL_SMTP_URL": smtp_url, **(extra_env or {})})
    server = ServerProcess(env, workdir / "server", name="isolation", token=token)
    previous_latency = model.latency
    server.start(wait=timeout)
    try:
        model.latency = latency
        clicks = _pending_clicks(server, slack, run, cards, timeout)
        with server.client() as client:  # the first turn builds the knowledge base index
            warm = client.post(f"/v1/conversations/iso-{run}-warm/messages", json={
                "text": QUESTIONS[0], "customer": {"email": f"warm@iso-{run}.example.com"}})
            if warm.status_code != 200:
                raise RuntimeError(f"warm-up turn answered {warm.status_code}: {warm.text}")
        streams = {"healthz": [Probe("GET", "/healthz")],
                   "events": _event_probes(run, EVENT_PROBES, token), "slack": clicks}
        context = multiprocessing.get_context("spawn")
        ready, stop = context.Event(), context.Event()
        probe_results, burst_results = context.Queue(), context.Queue()
        prober = context.Process(target=run_probes, args=(server.url, streams, ready, stop,
                                                          probe_results), daemon=True)
        prober.start()
        if not ready.wait(60):
            raise RuntimeError("the probe process did not start")
        burster = context.Process(target=run_burst, args=(
            server.url, _turns(run, messages, token), burst_results), daemon=True)
        burster.start()
        began, ended, answers = burst_results.get(timeout=timeout + 60)
        stop.set()
        samples = [Sample(**s) for s in probe_results.get(timeout=120)]
        burster.join(10)
        prober.join(10)
    finally:
        model.latency = previous_latency
        server.stop()
    during = [s for s in samples if began <= s.sent_at <= ended]
    probes: dict[str, dict[str, float | int]] = {}
    for kind in streams:
        mine = [s for s in during if s.kind == kind]
        ok = [s.ms for s in mine if 200 <= s.status < 300]
        probes[kind] = {"sent": len(mine), "answered_2xx": len(ok),
                        "other_status": len(mine) - len(ok),
                        **_percentiles([s.ms for s in mine])}
    statuses: dict[str, int] = {}
    for _, status, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    support_ms = [ms for ms, _, _ in answers]
    wanted = ("HITL_HTTP_SUPPORT_CONCURRENCY", "HITL_HTTP_QUEUE_WAIT_S")
    return IsolationResult(
        messages=messages, latency_s=latency, burst_s=round(ended - began, 2),
        support_status=statuses,
        support_refusals=sum(r for _, _, r in answers),
        support_ms_p50=_percentiles(support_ms)["ms_p50"],
        support_ms_p99=_percentiles(support_ms)["ms_p99"], probes=probes,
        settings={k: env.get(k, "default") for k in wanted})


def phase_isolation(bench: Bench) -> None:
    """The bench's step: the figures into `bench.report`."""
    quick = bench.config.quick
    result = measure(bench.workdir / "isolation", bench.model, bench.slack,
                     smtp_url=bench.sink.url, latency=bench.config.burst_latency,
                     timeout=bench.config.timeout, messages=QUICK_MESSAGES if quick else 200,
                     cards=QUICK_CARDS if quick else CARDS)
    record(bench.report, result)


def record(report: Any, result: IsolationResult) -> None:
    """Figures, checks and details of one measurement into a BenchReport."""
    for key, kind, what in zip(GOAL_KEYS, ("healthz", "events", "slack"),
                               ("GET /healthz", "POST /v1/events (one event each)",
                                "Slack Approve acks"), strict=True):
        report.add(key, result.figure(kind), METHOD.format(
            messages=result.messages, latency=result.latency_s, what=what))
    bad = {k: v["other_status"] for k, v in result.probes.items() if v["other_status"]}
    report.check("isolation: every probe answered 2xx during the support burst", not bad,
                 f"non-2xx per probe: {bad or 'none'}")
    unanswered = {k: v for k, v in result.support_status.items() if k != "200"}
    report.check("isolation: every support message answered", not unanswered,
                 f"{result.messages} messages: {result.support_status}, after "
                 f"{result.support_refusals} 429s (retried after Retry-After)")
    report.details["isolation"] = asdict(result)


def main() -> None:
    """`python -m bench.isolation`: the phase alone, with its own fakes."""
    import argparse
    import tempfile

    from bench.fake_openai import FakeOpenAI
    from bench.fake_slack import FakeSlack
    from tools.smtp_sink import SmtpSink

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5, help="model fake latency (s)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the server, e.g. HITL_HTTP_SUPPORT_CONCURRENCY=8")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hitl-iso-")))
        sink = stack.enter_context(SmtpSink())
        model = stack.enter_context(FakeOpenAI(latency=args.latency))
        slack = stack.enter_context(FakeSlack(token=SLACK_TOKEN))
        result = measure(folder, model, slack, smtp_url=sink.url, messages=args.messages,
                         latency=args.latency, extra_env=extra)
    goals = {"healthz": 100, "events": 500, "slack": 1000}
    for kind, goal in goals.items():
        p = result.probes[kind]
        verdict = "pass" if p["ms_p99"] <= goal else "FAIL"
        print(f"{kind:8} p50 {p['ms_p50']:8.1f} ms   p99 {p['ms_p99']:8.1f} ms   "
              f"max {p['ms_max']:8.1f} ms   goal p99 <= {goal} ms  {verdict}   "
              f"({p['sent']} sent, {p['other_status']} non-2xx)")
    print(f"support  {result.messages} messages in {result.burst_s} s: {result.support_status}, "
          f"{result.support_refusals} 429s retried; turn p50 {result.support_ms_p50} ms, "
          f"p99 {result.support_ms_p99} ms")
    print(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
