"""Where a hand-raise's CPU goes: worker-thread CPU per job kind, in one process.

`python -m bench.cpu` measures the whole server's CPU from outside, which says how much but not
where. This runs the same hand-raises through the real service and worker in this process
(SQLite in a temporary folder, the shipped content library indexed, the model drafter against
`bench.fake_openai` and the cards to `bench.fake_slack`, both fakes in a child process so their
CPU is not counted) and prints each job kind's thread CPU per lead, and with `--time` that of
named functions inside them:

    python -m bench.job_cpu --leads 200
    python -m bench.job_cpu --time service.handoffs:StoreHandoffPort.draft \
        agent.drafting.model:ModelDrafter.draft

A `--time` name is `module:qualified.name` of the module where the caller looks the function up
(it is wrapped there). Figures vary with the host's load by tens of percent: compare two trees
by alternating runs, as for `bench.cpu`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

_FAKES = """
import sys
from bench.fake_openai import FakeOpenAI
from bench.fake_slack import FakeSlack
model = FakeOpenAI(latency=float(sys.argv[1])).start()
slack = FakeSlack(token="xoxb-bench").start()
print(model.url, slack.url, flush=True)
sys.stdin.read()  # until the parent closes it
"""


def _timed(cpu: dict[str, list[float]], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            cpu[name].append(time.thread_time() - started)
    return run


def _wrap(cpu: dict[str, list[float]], spec: str) -> Callable[[], None]:
    """Time the function `spec` names where it is looked up; returns what puts it back."""
    module_name, _, qualified = spec.partition(":")
    owner: Any = importlib.import_module(module_name)
    *path, attribute = qualified.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
    setattr(owner, attribute, _timed(cpu, f"  {qualified}", getattr(owner, attribute)))
    return lambda: setattr(owner, attribute, original)


def measure(leads: int, *, latency: float = 0.0, threads: int = 1,
            timed: list[str] | None = None) -> dict[str, Any]:
    """Thread CPU (ms per lead) by job kind and timed function, and the process's CPU."""
    from bench.workload import hand_raise_events
    from config.settings import DEFAULTS_DIR, load_settings
    from service.ingest import ingest_events
    from service.runtime import build_runtime
    from service.schemas import EventIn
    from service.worker import Worker
    from slack_app.jobs import slack_job_handlers
    from tools.content_library import ContentLibrary, open_chroma
    from tools.embeddings import build_embedding_function

    restore: list[Callable[[], None]] = []
    fakes = subprocess.Popen([sys.executable, "-c", _FAKES, str(latency)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert fakes.stdout is not None
        model_url, slack_url = fakes.stdout.readline().split()
        work = Path(tempfile.mkdtemp(prefix="hitl-job-cpu-"))
        settings = load_settings(
            database_url=f"sqlite:///{work / 'hitl.db'}", chroma_path=work / "chroma",
            chroma_url=None, openai_base_url=model_url, openai_api_key="bench-key",
            embeddings="local", slack_bot_token="xoxb-bench", slack_signing_secret="bench",
            slack_app_token=None, slack_api_url=slack_url, worker_threads=threads,
            api_token=None, smtp_url=None)
        library = ContentLibrary(open_chroma(settings), build_embedding_function(settings))
        library.index_folder(DEFAULTS_DIR / "content")
        rt = build_runtime(settings)
        rt.job_handlers.update(slack_job_handlers())  # what `hitl serve` wires with Slack on
        rt.db.upgrade()
        cpu: dict[str, list[float]] = defaultdict(list)
        worker = Worker(rt)
        for kind, handler in list(worker.handlers.items()):
            worker.handlers[kind] = _timed(cpu, kind, handler)
        restore += [_wrap(cpu, spec) for spec in timed or []]

        def burst(tag: str, n: int) -> tuple[float, float]:
            events = [EventIn.model_validate(e) for i in range(n)
                      for e in hand_raise_events("jobcpu", tag, i)]
            started = time.process_time()
            ingest_events(rt, events)
            ingested = time.process_time()
            worker.run_until_idle()
            return ingested - started, time.process_time() - ingested

        burst("warm", 5)  # the first drafts import the model client and fill caches
        cpu.clear()
        gc.collect()
        gc.freeze()  # as the worker process does after startup (README, "Performance choices")
        ingest_s, worker_s = burst("lead", leads)
        rt.close()
    finally:
        for put_back in restore:
            put_back()
        if fakes.stdin is not None:
            fakes.stdin.close()
        fakes.wait(10)
    return {
        "leads": leads, "ingest_cpu_ms_per_lead": round(ingest_s * 1000 / leads, 2),
        "worker_cpu_ms_per_lead": round(worker_s * 1000 / leads, 2),
        "thread_cpu_ms_per_lead": {
            name: {"calls": len(times), "per_lead": round(sum(times) * 1000 / leads, 2),
                   "median_call": round(statistics.median(times) * 1000, 3)}
            for name, times in sorted(cpu.items(), key=lambda kv: -sum(kv[1]))},
    }


def main(argv: list[str] | None = None) -> None:
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.job_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=200, help="hand-raises measured")
    parser.add_argument("--latency", type=float, default=0.0, help="the model's latency, s")
    parser.add_argument("--threads", type=int, default=1, help="worker threads")
    parser.add_argument("--time", nargs="*", default=[], metavar="MODULE:NAME",
                        help="functions to time as well")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.leads, latency=args.latency, threads=args.threads,
                             timed=args.time), indent=2))


if __name__ == "__main__":
    main()
