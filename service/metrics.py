"""Prometheus metrics, one registry per runtime (no process globals, so tests stay isolated).

`hitl serve` runs its worker in a second process; both count into files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, set up by `hitl serve` before
this module is imported), and `/metrics` on the web process adds up every process's files.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_accepted = Counter("hitl_events_accepted", "Events accepted", registry=r)
        self.events_duplicate = Counter("hitl_events_duplicate", "Duplicate events ignored",
                                        registry=r)
        self.handoffs_started = Counter("hitl_handoffs_started", "Handoffs started", ["route"],
                                        registry=r)
        self.decisions = Counter("hitl_decisions", "Human decisions", ["action"], registry=r)
        self.emails = Counter("hitl_emails", "Outbox results", ["status"], registry=r)
        self.drafts = Counter("hitl_drafts", "Drafts written", ["source"], registry=r)
        self.jobs_failed = Counter("hitl_jobs_failed",
                                   "Jobs parked as failed after their retry budget", ["kind"],
                                   registry=r)
        self.sla_decisions = Counter("hitl_sla_decisions", "Human decisions vs their SLA",
                                     ["band", "rep", "met"], registry=r)
        self.sla_breaches = Counter("hitl_sla_breaches", "SLA breaches handled",
                                    ["route", "stage"], registry=r)
        self.recycled = Counter("hitl_recycled", "Leads recycled to nurture", ["reason"],
                                registry=r)
        self.return_to_intent = Counter("hitl_return_to_intent",
                                        "Recycled leads handed off again", ["reason"], registry=r)
        self.nurture_enrolments = Counter("hitl_nurture_enrolments", "Nurture enrolments",
                                          ["track", "status"], registry=r)
        self.csat_ratings = Counter(
            "hitl_csat_ratings", "Customer ratings (1-5) of resolved support conversations, by "
            "path (bot_only, transferred), escalation trigger and resolving agent",
            ["path", "trigger", "agent", "score"], registry=r)
        self.csat_followups = Counter("hitl_csat_followups",
                                      "Low ratings followed up by the support lead", registry=r)
        self.callbacks = Counter("hitl_support_callbacks",
                                 "Customer callbacks by step (scheduled, reminded, escalated)",
                                 ["step"], registry=r)
        self.signal_to_card = Histogram("hitl_signal_to_card_seconds",
                                        "First signal to approval card", buckets=_LATENCY_BUCKETS,
                                        registry=r)
        self.card_to_decision = Histogram("hitl_card_to_decision_seconds",
                                          "Approval card to human decision",
                                          buckets=_LATENCY_BUCKETS, registry=r)
        self.decision_to_send = Histogram("hitl_decision_to_send_seconds",
                                          "Approval to email accepted by SMTP",
                                          buckets=_LATENCY_BUCKETS, registry=r)

    def render(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)
