"""A bench stopped with SIGTERM (`kill`, `timeout`, a CI runner giving up) stops the `hitl serve`
replicas it started: they run in their own sessions, and left alone went on working through the
burst's backlog, loading the host under every later measurement."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _servers_under(bench: psutil.Process) -> list[psutil.Process]:
    return [p for p in bench.children(recursive=True)
            if "hitl.cli" in " ".join(p.cmdline()) and "serve" in p.cmdline()]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_terminated_bench_leaves_no_server_running(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITL_", "OPENAI_",
                                                                     "SLACK_"))}
    # A burst long enough to still be running when the signal comes (the model answers in
    # 0.25 s, a few leads at a time).
    bench = subprocess.Popen([sys.executable, "-m", "bench.cpu", "--leads", "5000"], cwd=ROOT,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        watched = psutil.Process(bench.pid)
        deadline = time.monotonic() + 120
        servers: list[psutil.Process] = []
        while time.monotonic() < deadline and bench.poll() is None:
            servers = _servers_under(watched)
            if servers and servers[0].children():  # the server and its worker are up
                break
            time.sleep(0.2)
        assert servers and bench.poll() is None, "the bench did not start a server"
        everything = [p for s in servers for p in (s, *s.children(recursive=True))]
        time.sleep(2)  # into the burst
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(60) == 128 + signal.SIGTERM
        _, alive = psutil.wait_procs(everything, timeout=30)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
        assert bench.stderr is not None
        bench.stderr.close()
