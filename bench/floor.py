"""The floor under `cpu_per_lead_in_calibrations`: what the design card's libraries cost one
hand-raise, in units of the calibration loop (`bench.cpu`), beside what the whole lead costs.

Runs a few real hand-raises in this process (`bench.in_process`: the service and worker on
SQLite, the fakes in a child process) and records what they passed to the libraries, then times
each library doing just that, one call at a time, hot (the median of `--samples` calls, CPU
seconds of this process, the checkpointer's write thread included):

- langgraph: the handoff graph's run from its start to the approval interrupt, on the
  production checkpointer, its nodes answered from the recording (no store, no model);
- langchain-openai: the model drafter's chat-model call with a recorded lead's messages (the
  OpenAI SDK and httpx under it; the fake model answers at once);
- slack_sdk: posting a recorded card with `chat.postMessage` (the kept-alive client);
- sqlalchemy: the statements and transactions one lead executes on the store (counted during
  the burst; the checkpointer's are the graph run's), each priced by a one-row SELECT and by a
  write transaction of one INSERT.

`whole_lead` is the worker's CPU per lead of the same burst, one thread, model at once: the
in-process figure without the idle the server sees between a draft's request and its answer.

    python -m bench.floor [--samples 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from bench.cpu import calibrate
from bench.in_process import InProcessService, in_process_service, wrapped

GOAL_IN_CALIBRATIONS = 18.0
WARM_LEADS = 3
MEASURED_LEADS = 20


def _median_ms(fn: Callable[[int], object], samples: int) -> float:
    """Median CPU milliseconds (this process, every thread) of `fn(i)` over `samples` calls."""
    for i in range(5):
        fn(-1 - i)
    times = []
    for i in range(samples):
        started = time.process_time()
        fn(i)
        times.append(time.process_time() - started)
    return statistics.median(times) * 1000


def _recording(owner: Any, attribute: str, into: dict[str, Any],
               keep: Callable[..., tuple[str, Any]]) -> AbstractContextManager[None]:
    """Wrap `owner.attribute`; after each call, `keep(result, *args, **kwargs)` names what to
    remember of it in `into`. Put back on exit."""
    def recording(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            name, value = keep(result, *args, **kwargs)
            into[name] = value
            return result
        return call

    return wrapped(owner, attribute, recording)


def _record_lead(service: InProcessService) -> dict[str, Any]:
    """Run hand-raises through the real path; what they handed the libraries, from the last."""
    import agent.drafting.model as model
    import slack_app.jobs as slack_jobs
    from service.handoffs import StoreHandoffPort

    seen: dict[str, Any] = {}
    port = StoreHandoffPort
    with (_recording(port, "qualify", seen, lambda r, *a, **k: ("qualify", r)),
          _recording(port, "context_package", seen, lambda r, *a, **k: ("context", r)),
          _recording(port, "draft", seen, lambda r, *a, **k: ("draft", r)),
          _recording(port, "open_approval", seen, lambda r, *a, **k: ("approval", r[1])),
          _recording(model.ModelDrafter, "draft", seen,
                     lambda r, drafter, request: ("messages", drafter.messages(request))),
          _recording(slack_jobs, "call_unlogged", seen,
                     lambda r, method, **kwargs: ("card", kwargs))):
        service.burst("floor-warm", WARM_LEADS)
    return seen


class RecordedPort:
    """The handoff graph's port answering from a recording: the graph's own cost, no store."""

    def __init__(self, seen: dict[str, Any]) -> None:
        self.seen = seen

    def qualify(self, lead_id: str) -> Any:
        return self.seen["qualify"]

    def context_package(self, lead_id: str, qualification: Any) -> Any:
        return self.seen["context"]

    def draft(self, lead_id: str, context: Any, **_: Any) -> Any:
        return self.seen["draft"]

    def open_approval(self, handoff_id: str, version: int, **_: Any) -> tuple[str, Any]:
        return f"{handoff_id}_v{version}", self.seen["approval"]


def _burst_counting_sql(service: InProcessService, leads: int) -> tuple[float, float, float]:
    """(statements, transactions, worker CPU ms) per lead of a burst, counted on the store's
    engine (the checkpointer's own statements are part of the graph run's figure)."""
    from sqlalchemy import event

    engine = service.rt.db.engine
    counts = {"statements": 0, "commits": 0}

    def on_statement(*_: Any) -> None:
        counts["statements"] += 1

    def on_commit(*_: Any) -> None:
        counts["commits"] += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        _, worker_s = service.burst("floor", leads)
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
    return counts["statements"] / leads, counts["commits"] / leads, worker_s * 1000 / leads


def _sql_prices(service: InProcessService, samples: int) -> tuple[float, float]:
    """(ms of one more SELECT in a transaction, ms of a write transaction of one INSERT)."""
    from sqlalchemy import select

    from service.jobs import enqueue
    from store.tables import Lead

    rt = service.rt
    leads = Lead.__table__.c  # type: ignore[attr-defined]
    one = select(leads.id).where(leads.id == "floor-none")
    later = rt.clock.now() + timedelta(days=365)  # never due while the bench runs

    def reads(count: int) -> Callable[[int], None]:
        def run(_: int) -> None:
            with rt.db.read_connection() as connection:
                for _ in range(count):
                    connection.execute(one).first()
        return run

    def write(_: int) -> None:  # the queue's own insert, as a lead's jobs are queued
        with rt.db.transaction() as connection:
            enqueue(connection, "floor_noop", {}, now=later)

    statement = (_median_ms(reads(11), samples) - _median_ms(reads(1), samples)) / 10
    return max(statement, 0.0), _median_ms(write, samples)


def measure(samples: int = 300, leads: int = MEASURED_LEADS) -> dict[str, Any]:
    from agent import runs
    from agent.drafting.model import ModelDrafter
    from slack_app.web import web_client

    with in_process_service() as service:
        rt = service.rt
        seen = _record_lead(service)
        statements, transactions, whole_ms = _burst_counting_sql(service, leads)
        port = RecordedPort(seen)
        drafter = getattr(rt.drafter, "primary", rt.drafter)
        if not isinstance(drafter, ModelDrafter):
            raise RuntimeError("the floor needs the model drafter (a model endpoint is set)")
        card = seen["card"]
        slack = web_client(rt)

        def graph_run(i: int) -> None:
            runs.start(rt.graph, f"floor-{i}", {"handoff_id": f"floor-{i}", "lead_id": "floor",
                                                "assignee": "floor", "version": 0}, context=port)

        calibration_s = calibrate()
        statement_ms, transaction_ms = _sql_prices(service, samples)
        per_lead = {
            "langgraph": _median_ms(graph_run, samples),
            "langchain_openai": _median_ms(
                lambda _: drafter.structured.invoke(seen["messages"]), samples),
            "slack_sdk": _median_ms(lambda _: slack.chat_postMessage(**card), samples),
            "sqlalchemy": statements * statement_ms
            + transactions * max(transaction_ms - statement_ms, 0.0),
        }
        waiting = sum(runs.position(rt.graph, f"floor-{i}").stage is runs.RunStage.WAITING
                      for i in range(samples))
    libraries = sum(per_lead.values())
    return {
        "calibration_s": round(calibration_s, 3),
        "per_lead_ms": {k: round(v, 3) for k, v in per_lead.items()},
        "per_lead_in_calibrations": {k: round(v / calibration_s, 2)
                                     for k, v in per_lead.items()},
        "libraries_in_calibrations": round(libraries / calibration_s, 2),
        "whole_lead_ms": round(whole_ms, 2),
        "whole_lead_in_calibrations": round(whole_ms / calibration_s, 2),
        "goal_in_calibrations": GOAL_IN_CALIBRATIONS,
        "left_for_the_product_in_calibrations": round(
            GOAL_IN_CALIBRATIONS - libraries / calibration_s, 2),
        "sql_per_lead": {"statements": round(statements, 1),
                         "transactions": round(transactions, 1),
                         "statement_ms": round(statement_ms, 4),
                         "transaction_ms": round(transaction_ms, 4)},
        "graph_runs_at_the_approval": waiting,
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=300, help="timed calls of each library")
    parser.add_argument("--leads", type=int, default=MEASURED_LEADS,
                        help="hand-raises whose statements are counted")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.samples, args.leads), indent=2))


if __name__ == "__main__":
    main()
