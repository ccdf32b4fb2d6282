"""Microbenchmarks of the hot path's pieces in thread CPU (issue 14's lean hot path).

Not collected by the suite (no `test_` file name) and asserting nothing: run it by name,
    .venv/bin/python -m pytest tests/slack/microbench_hotpath.py -q -s -p no:cacheprovider
and read the `MB` lines (median and lower quartile of `time.thread_time()` around each call).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from sqlalchemy import delete

from agent.guardrails import LeadIdentity, content_blocks
from service.approvals import list_approvals
from service.content_check import draft_content_blocks
from service.handoffs import StoreHandoffPort
from service.name_search import other_people
from slack_app.jobs import SLACK_JOB_HANDLERS
from store.tables import Lead, SlackCard, SlackMessageLog
from tests.conftest import hand_raise
from tests.flow import ingest


def _leads(client: Any, worker: Any, n: int) -> None:
    for i in range(n):
        lead = {"email": f"p{i}@co{i}.io", "first_name": f"Name{i}x", "last_name": f"Sur{i}y",
                "company": f"Company{i}z", "title": "VP Operations", "domain": f"co{i}.io",
                "country": "US", "employees": 850, "industry": "Software",
                "timezone": "America/Chicago"}
        ingest(client, hand_raise(f"mb{i}", lead=lead))
    worker.run_until_idle()


def _report(name: str, samples: list[float]) -> None:
    samples.sort()
    print(f"\nMB {name}: median {statistics.median(samples) * 1000:.3f} ms, "
          f"p25 {samples[len(samples) // 4] * 1000:.3f} ms (n={len(samples)})")


def test_post_approval(client, worker, rt, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """The card job for 20 approvals, ten times over (cards and log forgotten between)."""
    _leads(client, worker, 20)
    approvals = list_approvals(rt)
    handler = SLACK_JOB_HANDLERS["slack_post_approval"]
    samples = []
    for _ in range(10):
        with rt.db.session() as session:
            session.execute(delete(SlackCard))
            session.execute(delete(SlackMessageLog))
        for approval in approvals:
            started = time.thread_time()
            handler(rt, {"approval_id": approval["approval_id"]})
            samples.append(time.thread_time() - started)
    _report("post_approval", samples)


def test_open_approval(client, worker, rt, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """open_approval as the graph calls it, for 60 hand-raises."""
    original = StoreHandoffPort.open_approval
    samples = []

    def timed(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            samples.append(time.thread_time() - started)

    StoreHandoffPort.open_approval = timed  # type: ignore[method-assign]
    try:
        _leads(client, worker, 60)
    finally:
        StoreHandoffPort.open_approval = original  # type: ignore[method-assign]
    _report("open_approval", samples)


def test_content_check_bench_like(rt, clock) -> None:  # type: ignore[no-untyped-def]
    """The bench's store: 400 leads named Vp{i} Cpu at 'Cpu r1 {i}', and its model draft."""
    now = clock.now()
    with rt.db.session() as session:
        for i in range(400):
            session.add(Lead(id=f"lead{i}", email=f"vp{i}@cpu-r1-{i}.io", first_name=f"Vp{i}",
                             last_name="Cpu", company=f"Cpu r1 {i}", domain=f"cpu-r1-{i}.io",
                             created_at=now, updated_at=now))
    whole, records, pure = [], [], []
    people: list[str] = []
    for _ in range(3):
        for i in range(0, 400, 4):
            subject = f"Following up for Cpu r1 {i}"
            body = (f"Hi Vp{i},\n\nThanks for your recent form submit. Teams like Cpu r1 {i} "
                    "usually reach out when they want to see how the workflow fits their own "
                    "process.\n\nWould a short call early next week work for you?\n\n"
                    "Best,\nRiley Rep")
            with rt.db.read() as session:
                started = time.thread_time()
                draft_content_blocks(rt, session, f"lead{i}", subject, body)
                whole.append(time.thread_time() - started)
                lead = LeadIdentity(email=f"vp{i}@cpu-r1-{i}.io", first_name=f"Vp{i}",
                                    last_name="Cpu", company=f"Cpu r1 {i}")
                started = time.thread_time()
                people = other_people(session, f"lead{i}", lead, f"{subject}\n{body}")
                records.append(time.thread_time() - started)
            started = time.thread_time()
            content_blocks(subject, body, lead=lead, other_people=people,
                           allowed_domains=["vendor.example"], allowed_names=["Riley Rep"])
            pure.append(time.thread_time() - started)
    _report("draft_content_blocks", whole)
    _report("other_people (the store's scan)", records)
    _report(f"content_blocks ({len(people)} candidate names)", pure)
