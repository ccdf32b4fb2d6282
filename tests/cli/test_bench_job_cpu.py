"""`python -m bench.job_cpu`: every measured lead runs the three jobs of the hand-raise path,
and a `--time` name is charged to the calls that were made."""

from __future__ import annotations

import pytest

from bench.job_cpu import measure


@pytest.mark.slow
def test_each_lead_runs_its_three_jobs_and_timed_functions_are_counted() -> None:
    figures = measure(4, timed=["service.handoffs:StoreHandoffPort.draft"])
    jobs = figures["thread_cpu_ms_per_lead"]
    # One process, one graph run and one card per lead: the path bench.cpu measures.
    assert {kind: jobs[kind]["calls"] for kind in
            ("process_lead", "run_handoff", "slack_post_approval")} == {
        "process_lead": 4, "run_handoff": 4, "slack_post_approval": 4}
    assert jobs["  StoreHandoffPort.draft"]["calls"] == 4
    # The draft runs inside the graph run: its CPU is part of the run's.
    assert 0 < jobs["  StoreHandoffPort.draft"]["per_lead"] <= jobs["run_handoff"]["per_lead"]
    assert figures["worker_cpu_ms_per_lead"] >= jobs["run_handoff"]["per_lead"]
    # ... and put back afterwards: the class is as it was.
    from service.handoffs import StoreHandoffPort

    assert StoreHandoffPort.draft.__qualname__ == "StoreHandoffPort.draft"
