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

Modules: bench/harness.py (configuration, servers, fakes, plumbing), bench/probe.py (read-only
store queries), bench/phases.py and bench/slack_phase.py (phases 1-6, 8), bench/cold_start.py,
bench/isolation.py (phases with servers of their own); this module runs them in order.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import phases
from bench.cold_start import phase_cold_start
from bench.cpu import phase_cpu
from bench.harness import Bench, BenchConfig, ProgressFn, cores
from bench.isolation import phase_isolation
from bench.report import BenchReport
from bench.slack_phase import phase_slack

__all__ = ["Bench", "BenchConfig", "execute", "run_bench"]


def execute(bench: Bench) -> BenchReport:
    """Start the servers and fakes, run every phase in order, stop everything; the report."""
    cfg = bench.config
    bench.report.config = {
        "topology": (f"PostgreSQL + {cfg.replicas} hitl serve replicas + Chroma server"
                     if cfg.postgres else
                     "embedded defaults: SQLite + embedded Chroma + 1 hitl serve"
                     + (f" ({cfg.replicas} replicas)" if cfg.replicas > 1 else "")),
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
           if k != "postgres"},
        "postgres": bool(cfg.postgres),
        "python": sys.version.split()[0],
        "cores": cores(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with contextlib.ExitStack() as stack:
        stack.callback(bench._stop_all)
        bench._setup(stack)
        steps: list[tuple[str, float, Callable[[Bench], None]]] = [
            ("cold start: spawn -> /readyz -> first card", 0.05, phase_cold_start),
            ("ingest: one event per POST (naive), then batches", 0.25, phases.phase_ingest),
            ("prompt tokens: a lead with a long history", 0.05, phases.phase_prompt),
            ("cards: hand-raises at a steady rate", 0.2, phases.phase_cards),
            ("llm overhead at 1 s model latency", 0.1, phases.phase_llm_overhead),
            ("concurrency: serial vs burst at 500 ms", 0.15, phases.phase_concurrency),
            ("CPU per lead: calibration loop, then a burst", 0.05, phase_cpu),
            ("Slack acks and exactly-once email", 0.15, phase_slack),
            ("isolation: 200 support messages beside health, ingest and Slack", 0.05,
             phase_isolation),
            ("top-signal recall on the eval set", 0.05, phases.phase_recall),
        ]
        done = 0.1
        for description, weight, step in steps:
            bench.progress(description, done)
            step(bench)
            done += weight
        bench.progress("finishing: memory and lost-event checks", done)
        phases.phase_finish(bench)
    bench.progress("done", 1.0)
    return bench.report


def run_bench(config: BenchConfig, progress: ProgressFn | None = None) -> BenchReport:
    """Run the whole bench and return its report (figures, checks, details)."""
    return execute(Bench(config, progress or (lambda _d, _f: None)))
