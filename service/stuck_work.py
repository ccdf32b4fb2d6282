"""Gauges of stuck work, read from the store at scrape time.

Counters live in each process (service.metrics); these are facts about the shared store, so
any replica's `/metrics` reports the same numbers and no process has to keep them in step:
outbox depth by status, how long the oldest retrying email has waited, parked jobs by kind.
Built as metric families on a throwaway registry (not `Gauge` objects, which in
prometheus_client's multiprocess mode would write per-process files).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service import jobs, outbox_views
from service.lifecycle import SEND_STATUS
from service.runtime import AppRuntime


class _StuckWork(Collector):
    def __init__(self, rt: AppRuntime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("hitl_outbox_messages", "Approved emails by send status",
                                  labels=["status"])
        counts = outbox_views.depth_by_status(self.rt)
        for status in dict.fromkeys(SEND_STATUS.values()):
            depth.add_metric([status], counts.get(status, 0))
        yield depth
        yield GaugeMetricFamily("hitl_outbox_oldest_retrying_seconds",
                                "How long the oldest retrying email has been failing",
                                value=outbox_views.oldest_retrying_age_s(self.rt))
        parked = GaugeMetricFamily("hitl_jobs_parked",
                                   "Jobs failed for good (after their retry budget), by kind",
                                   labels=["kind"])
        for kind, n in sorted(jobs.failed_by_kind(self.rt.db).items()):
            parked.add_metric([kind], n)
        yield parked


def render_stuck_work(rt: AppRuntime) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StuckWork(rt))
    return generate_latest(registry)
