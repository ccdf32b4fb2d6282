"""A worker process pins itself, and every thread it has or starts, to one CPU that no other
worker on the host holds; the CPU is free again the moment its worker dies; a worker that finds
every CPU taken, or is told not to, runs where the scheduler puts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hitl.cpu_pinning import PINNED_SWITCH_INTERVAL_S

DEFAULT_SWITCH_INTERVAL_S = 0.005  # Python's

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="pinning needs Linux and two CPUs or more")

# A worker's start in miniature: a thread already running, then the pin, then a new thread.
_WORKER = """
import json, os, sys, threading
from pathlib import Path
from config.settings import load_settings
from hitl.cpu_pinning import pin_if_configured
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()
settings = load_settings(worker_pin_cpu=sys.argv[2] == "on")
cpu = pin_if_configured(settings, Path(sys.argv[1]))
threading.Thread(target=stop.wait, daemon=True).start()
tasks = os.listdir("/proc/self/task")
print(json.dumps({"cpu": cpu, "threads": len(tasks), "switch": sys.getswitchinterval(),
                  "affinity": sorted({tuple(sorted(os.sched_getaffinity(int(t))))
                                      for t in tasks})}), flush=True)
sys.stdin.read()
"""


class Worker:
    def __init__(self, folder: Path, pin: str = "on") -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(folder), pin], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
        assert self.process.stdout is not None
        self.report: dict[str, Any] = json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def test_each_worker_takes_its_own_cpu_for_all_its_threads_until_it_dies(
        tmp_path: Path) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    workers = [Worker(tmp_path) for _ in allowed]
    try:
        cpus = [w.report["cpu"] for w in workers]
        assert sorted(cpus) == allowed  # one each, no two on one CPU
        for worker in workers:
            # The thread started before the pin, the main one and the one started after.
            assert worker.report["threads"] == 3
            assert worker.report["affinity"] == [[worker.report["cpu"]]]
            assert worker.report["switch"] == pytest.approx(PINNED_SWITCH_INTERVAL_S)

        # Every CPU is taken: one more worker is left to the scheduler, on every CPU.
        extra = Worker(tmp_path)
        try:
            assert extra.report["cpu"] is None
            assert extra.report["affinity"] == [allowed]
            assert extra.report["switch"] == pytest.approx(DEFAULT_SWITCH_INTERVAL_S)
        finally:
            extra.stop()

        # A killed worker's CPU is free for its replacement at once.
        workers[0].stop()
        replacement = Worker(tmp_path)
        workers.append(replacement)
        assert replacement.report["cpu"] == cpus[0]
        assert replacement.report["affinity"] == [[cpus[0]]]
    finally:
        for worker in workers:
            worker.stop()


def test_hitl_worker_pin_cpu_off_leaves_the_worker_to_the_scheduler(tmp_path: Path) -> None:
    worker = Worker(tmp_path, pin="off")
    try:
        assert worker.report["cpu"] is None
        assert worker.report["affinity"] == [sorted(os.sched_getaffinity(0))]
        assert worker.report["switch"] == pytest.approx(DEFAULT_SWITCH_INTERVAL_S)
        assert not any(tmp_path.iterdir())  # it did not take a CPU's lock either
    finally:
        worker.stop()


def test_the_in_process_bench_runs_its_threads_like_the_served_worker() -> None:
    """`bench.in_process` measures the worker's CPU in the bench's own process: with job
    threads it takes the served worker's CPU pinning and switch interval (the figures it gives
    otherwise differ from the server's by ~10%), and gives both back."""
    import threading

    from bench.in_process import WORKER_SWITCH_INTERVAL_S, like_the_served_worker

    assert WORKER_SWITCH_INTERVAL_S == PINNED_SWITCH_INTERVAL_S
    before = (os.sched_getaffinity(0), sys.getswitchinterval())
    seen: dict[str, Any] = {}
    with like_the_served_worker():
        job_thread = threading.Thread(target=lambda: seen.update(cpus=os.sched_getaffinity(0)))
        job_thread.start()
        job_thread.join()
        assert sys.getswitchinterval() == pytest.approx(PINNED_SWITCH_INTERVAL_S)
        assert len(os.sched_getaffinity(0)) == 1 and seen["cpus"] == os.sched_getaffinity(0)
    assert (os.sched_getaffinity(0), sys.getswitchinterval()) == before
