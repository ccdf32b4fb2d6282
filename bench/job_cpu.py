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
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Any


def _timed(cpu: dict[str, list[float]], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            cpu[name].append(time.thread_time() - started)
    return run


def _timing(cpu: dict[str, list[float]], spec: str) -> AbstractContextManager[None]:
    """Time the function `spec` names where it is looked up, until the context ends."""
    from bench.in_process import wrapped

    module_name, _, qualified = spec.partition(":")
    owner: Any = importlib.import_module(module_name)
    *path, attribute = qualified.split(".")
    for part in path:
        owner = getattr(owner, part)
    return wrapped(owner, attribute, lambda fn: _timed(cpu, f"  {qualified}", fn))


def measure(leads: int, *, latency: float = 0.0, threads: int = 1,
            timed: list[str] | None = None) -> dict[str, Any]:
    """Thread CPU (ms per lead) by job kind and timed function, and the process's CPU."""
    from bench.in_process import in_process_service

    with ExitStack() as timing, in_process_service(latency=latency, threads=threads) as service:
        cpu: dict[str, list[float]] = defaultdict(list)
        worker = service.worker
        for kind, handler in list(worker.handlers.items()):
            worker.handlers[kind] = _timed(cpu, kind, handler)
        for spec in timed or []:
            timing.enter_context(_timing(cpu, spec))
        service.burst("warm", 5)  # the first drafts import the model client, fill caches
        cpu.clear()
        gc.collect()
        gc.freeze()  # as the worker process does after startup (README, "Performance choices")
        ingest_s, worker_s = service.burst("lead", leads)
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
