"""The hand-raise path in this process, for the in-process measurements (`bench.job_cpu`,
`bench.floor`): the real service and worker on SQLite in a temporary folder, the shipped
content library indexed, the model drafter against `bench.fake_openai` and the cards to
`bench.fake_slack`, both fakes in a child process so that their CPU is not this process's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.runtime import AppRuntime
    from service.worker import Worker

_FAKES = """
import sys
from bench.fake_openai import FakeOpenAI
from bench.fake_slack import FakeSlack
model = FakeOpenAI(latency=float(sys.argv[1])).start()
slack = FakeSlack(token="xoxb-bench").start()
print(model.url, slack.url, flush=True)
sys.stdin.read()  # until the parent closes it
"""


@dataclass
class InProcessService:
    rt: AppRuntime
    worker: Worker

    def burst(self, tag: str, n: int) -> tuple[float, float]:
        """Ingest `n` hand-raises and run the worker until idle; (ingest, worker) CPU seconds
        of this process."""
        from bench.workload import hand_raise_events
        from service.ingest import ingest_events
        from service.schemas import EventIn

        events = [EventIn.model_validate(e) for i in range(n)
                  for e in hand_raise_events("jobcpu", tag, i)]
        started = time.process_time()
        ingest_events(self.rt, events)
        ingested = time.process_time()
        self.worker.run_until_idle()
        return ingested - started, time.process_time() - ingested


@contextmanager
def wrapped(owner: Any, attribute: str,
            wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    """`owner.attribute` replaced by `wrap(it)` (a module's function, or a class's method as
    callers look it up), put back on exit."""
    original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
    setattr(owner, attribute, wrap(getattr(owner, attribute)))
    try:
        yield
    finally:
        setattr(owner, attribute, original)


# The switch interval `hitl serve`'s pinned worker process runs with (hitl/cpu_pinning.py
# PINNED_SWITCH_INTERVAL_S; the bench cannot import the CLI package, a test holds them equal).
WORKER_SWITCH_INTERVAL_S = 0.05


@contextmanager
def like_the_served_worker() -> Iterator[None]:
    """This process's threads share the interpreter as the served worker's do: on one CPU, with
    its switch interval (hitl/cpu_pinning.py). With 64 job threads the default 5 ms interval
    and two cores cost ~10% more CPU a lead, so a measurement without them misleads (a change
    that saved 5% here cost more in the server). Both put back on exit."""
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
    interval = sys.getswitchinterval()
    if affinity and len(affinity) > 1:
        os.sched_setaffinity(0, {max(affinity)})  # threads started from now on inherit it
    sys.setswitchinterval(WORKER_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if affinity and len(affinity) > 1:
            os.sched_setaffinity(0, affinity)


@contextmanager
def in_process_service(*, latency: float = 0.0, threads: int = 1) -> Iterator[InProcessService]:
    """The service with Slack's jobs wired as `hitl serve` wires them, its database migrated;
    with more than one job thread, run like the served worker (`like_the_served_worker`)."""
    from config.settings import DEFAULTS_DIR, load_settings
    from service.runtime import build_runtime
    from service.worker import Worker
    from slack_app.jobs import slack_job_handlers
    from tools.content_library import ContentLibrary, open_chroma
    from tools.embeddings import build_embedding_function

    fakes = subprocess.Popen([sys.executable, "-c", _FAKES, str(latency)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert fakes.stdout is not None
        model_url, slack_url = fakes.stdout.readline().split()
        work = Path(tempfile.mkdtemp(prefix="hitl-in-process-"))
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
        try:
            with like_the_served_worker() if threads > 1 else nullcontext():
                yield InProcessService(rt, Worker(rt))
        finally:
            rt.close()
    finally:
        if fakes.stdin is not None:
            fakes.stdin.close()
        fakes.wait(10)
