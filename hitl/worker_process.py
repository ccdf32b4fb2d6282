"""`hitl serve`'s background worker in its own process, supervised by the web process.

Why a second process: Python runs one thread at a time per process (the GIL). In one process
the worker's drafting (graph, SQL, the model client) and the web surface's work (ingest, Slack
acks that must answer within Slack's 3 seconds) take turns on one core; split, they run on two.
The worker process is the same code as the in-process worker (`service.worker.Worker`).

The parent and the child share three things:
- the database (the durable job queue): nothing is handed over in memory, so a crash of either
  loses nothing;
- a pipe: the web process writes a byte after it queues work, so the worker starts at once
  instead of at its next poll (a lost byte only costs the poll interval, 0.5 s);
- a lifetime: the child exits when the parent is gone (the pipe's end-of-file, and on Linux
  PR_SET_PDEATHSIG), so a kill -9 of `hitl serve` never leaves a worker running beside the
  next one.

If the child dies on its own, the parent starts a new one (with backoff) and logs why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.runtime import AppRuntime

log = logging.getLogger(__name__)

WAKE_FD_ENV = "HITL_WORKER_WAKE_FD"
PARENT_PID_ENV = "HITL_WORKER_PARENT_PID"
SOLE_WORKER_ENV = "HITL_WORKER_SOLE"
STOP_TIMEOUT_S = 30.0


class WorkerProcesses:
    """N supervised worker children; start/stop like `service.worker.Worker` (so
    `create_app(rt, worker=...)` takes either)."""

    def __init__(self, rt: AppRuntime, count: int = 1) -> None:
        self.rt = rt
        self.children = [WorkerProcess(rt, n, sole=count == 1) for n in range(count)]
        self.started = False

    def start(self) -> None:
        """Start the children; again is a no-op (`hitl serve` starts them before it imports the
        web stack, so both start side by side; the app's lifespan then calls this again)."""
        if self.started:
            return
        self.started = True
        if self.rt.db.is_sqlite and len(self.children) > 1:
            # Several workers on one SQLite file: leases are voided once, here, before any
            # starts; a child started again after a crash leaves the others' leases alone.
            from service.worker import release_leases

            release_leases(self.rt)
        for child in self.children:
            child.start()
        self.rt.wake_worker = self.wake

    def wake(self) -> None:
        for child in self.children:
            child.wake()

    def stop(self, wait: bool = True) -> None:
        for child in self.children:  # all told first, so they finish their jobs side by side
            child.terminate()
        for child in self.children:
            child.stop(wait)


class WorkerProcess:
    """One supervised `hitl worker` child."""

    def __init__(self, rt: AppRuntime, index: int = 0, *, sole: bool = True) -> None:
        self.rt = rt
        self.index = index
        self.sole = sole
        self._process: subprocess.Popen[bytes] | None = None
        self._wake_w: int | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise,
                                            name=f"hitl-worker-watch-{self.index}", daemon=True)
        self._supervisor.start()

    def _spawn(self) -> None:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)  # waking must never block a request
        env = {**os.environ, WAKE_FD_ENV: str(read_end), PARENT_PID_ENV: str(os.getpid()),
               SOLE_WORKER_ENV: "1" if self.sole else "0"}
        try:
            # This module, not `hitl worker`: the command line's imports are not the worker's.
            process = subprocess.Popen(
                [sys.executable, "-c", "from hitl.worker_process import main; main()"],
                env=env, pass_fds=(read_end,))
        finally:
            os.close(read_end)
        with self._lock:
            old, self._wake_w, self._process = self._wake_w, write_end, process
        if old is not None:
            with contextlib.suppress(OSError):
                os.close(old)
        log.info("worker process %s started", process.pid)

    def _supervise(self) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            process = self._process
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - started > 60:
                backoff = 1.0  # it had been running fine: this is not a crash loop
            self.restarts += 1
            log.error("worker process %s exited with %s; starting another in %.0f s",
                      process.pid, code, backoff)
            if self.stopping.wait(backoff):
                return
            backoff = min(30.0, backoff * 2)
            self._spawn()

    def wake(self) -> None:
        """Tell the worker new work is queued (never blocks; a full pipe is already a wake)."""
        fd = self._wake_w
        if fd is None:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(fd, b"\x01")

    def terminate(self) -> None:
        """SIGTERM: the worker finishes the jobs it is running, then exits (no restart)."""
        self.stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)

    def stop(self, wait: bool = True) -> None:
        """`terminate()`, then wait; SIGKILL after STOP_TIMEOUT_S (its unfinished jobs are
        leased and run again, they are idempotent)."""
        self.terminate()
        process = self._process
        if process is not None and process.poll() is None:
            try:
                process.wait(STOP_TIMEOUT_S if wait else 1.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                os.close(self._wake_w)
            self._wake_w = None


# -- the child's side ---------------------------------------------------------------------------


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each busy thread its own malloc arena (up to 8 per core), and a threaded
    Python process then holds on to memory it has freed in all of them. Two arenas keep the
    server's resident memory near what it uses, at no measurable speed cost here (bench).
    Why it is kept: README, "Performance choices"."""
    import ctypes

    if sys.platform.startswith("linux"):
        try:
            m_arena_max = -8
            ctypes.CDLL(None).mallopt(m_arena_max, arenas)
        except (OSError, AttributeError):
            pass


def freeze_startup_objects() -> None:
    """Exempt what startup built (modules, classes, the app) from the cyclic garbage collector.

    A full collection walks every tracked object; with the frameworks loaded that is ~100 ms
    of a frozen event loop, and it struck in the middle of bursts of Slack clicks (the bench
    caught 60-150 ms pauses in `hitl serve`). Those objects live as long as the process, so
    scanning them again and again finds nothing (Python's documented `gc.freeze` use).
    Why it is kept: README, "Performance choices"."""
    import gc

    gc.collect()
    gc.freeze()


WORKER_NICENESS = 10


def follow_parent(wake: threading.Event) -> None:
    """In a supervised worker: wake on the parent's bytes; exit the moment the parent is gone."""
    fd_text = os.environ.get(WAKE_FD_ENV)
    if not fd_text:
        return
    _die_with_parent(int(os.environ.get(PARENT_PID_ENV) or 0))
    # Second in line for the CPU: when the cores are busy, the web process answering a Slack
    # click or a webhook (someone is waiting, Slack gives up at 3 s) runs before background
    # drafting; every cycle the web process does not need is still the worker's (README,
    # "Performance choices").
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    fd = int(fd_text)

    def listen() -> None:
        while True:
            try:
                data = os.read(fd, 4096)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                # The parent is gone (killed, crashed): stop as abruptly as it did, so no job of
                # ours can overlap with the next server's worker. Leases make the work due again.
                os._exit(70)
            wake.set()

    threading.Thread(target=listen, name="hitl-worker-wake", daemon=True).start()


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if parent_pid and os.getppid() != parent_pid:
        os._exit(70)  # the parent died before we could ask to follow it


def run_worker_forever(rt: AppRuntime, threads: int | None = None,
                       before_start: Callable[[], None] | None = None) -> None:
    """`hitl worker`: run the worker until SIGTERM/SIGINT, then finish running jobs and exit.

    `before_start` runs once everything is built and warmed, just before the first job."""
    from service.worker import Worker

    worker = Worker(rt, threads=threads)
    rt.warm_up()
    _warm_lead_path()
    if before_start is not None:
        before_start()
    follow_parent(worker.wake_event)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.start(sole_worker=os.environ.get(SOLE_WORKER_ENV, "1") != "0")
    log.info("worker running with %d threads", worker.threads)
    while not stop.wait(1.0):
        pass
    started = time.monotonic()
    worker.stop(wait=True)
    log.info("worker stopped after finishing its jobs (%.1f s)", time.monotonic() - started)


def _warm_lead_path() -> None:
    """What a lead's first job would load: the policy modules and the compiled drafting
    templates. Done before the first poll, i.e. before `/readyz` says ready, so the first card
    after ready pays for none of it."""
    import agent.context
    import agent.gates
    import agent.qualification
    import agent.routing
    import agent.sla  # noqa: F401
    from prompts import DRAFT_TEMPLATES, OFFLINE_DRAFT_TEMPLATES, environment

    for name in (*DRAFT_TEMPLATES, *OFFLINE_DRAFT_TEMPLATES):
        environment().get_template(name)


def main() -> None:
    """A supervised worker child (`WorkerProcess` starts it): the worker without the command
    line around it. The parent took the database's locks and migrated it before starting us."""
    from config.logs import configure_logging

    configure_logging()
    limit_malloc_arenas()
    from config.settings import load_settings
    from hitl.cpu_pinning import pin_if_configured
    from hitl.wiring import build_runtime

    settings = load_settings()
    pin_if_configured(settings)  # first: every thread started later inherits the CPU
    run_worker_forever(build_runtime(settings), before_start=freeze_startup_objects)
