"""The support conversation's dependencies, built lazily once per runtime.

`support(rt)` returns the `SupportServices` of a runtime: the `[support]` policy (read from the
policy file), the knowledge base (its own Chroma collection), the answerer (model or offline),
the conversation graph (on the runtime's checkpointer) and the Prometheus metrics (on the
runtime's registry). Nothing is built at import; tests and evals pass overrides through
`install_support(rt, ...)`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from agent.support.policy import SupportPolicy, Thresholds, load_support_policy
from service.runtime import AppRuntime

if TYPE_CHECKING:
    from agent.support.answers import Answerer
    from tools.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_LATENCY_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 86400)


class SupportMetrics:
    """Prometheus metrics of the support surface, registered once on the runtime's registry."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Histogram

        r = registry
        self.messages = Counter("hitl_support_messages", "Support conversation messages",
                                ["role"], registry=r)
        self.answers = Counter("hitl_support_answers", "Bot replies by outcome and source",
                               ["outcome", "source"], registry=r)
        self.transfers = Counter("hitl_support_transfers", "Warm transfers to a person",
                                 ["trigger"], registry=r)
        self.human_preference = Counter(
            "hitl_support_human_preference",
            "Customers who asked for a person although the bot had a confident answer",
            registry=r)
        self.claims = Counter("hitl_support_claims", "Transfers claimed", registry=r)
        self.escalations = Counter("hitl_support_escalations",
                                   "Transfers escalated to the support lead unclaimed",
                                   registry=r)
        self.outcomes = Counter("hitl_support_transfer_outcomes",
                                "How transfers ended (resolved, handed_back)", ["outcome"],
                                registry=r)
        self.time_to_claim = Histogram("hitl_support_time_to_claim_seconds",
                                       "Transfer to claim by a person",
                                       buckets=_LATENCY_BUCKETS, registry=r)


@dataclass
class SupportServices:
    rt: AppRuntime
    policy_override: SupportPolicy | None = None
    knowledge_base_override: KnowledgeBase | None = None
    answerer_override: Answerer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def policy(self) -> SupportPolicy:
        if self.policy_override is not None:
            return self.policy_override
        return load_support_policy(self.rt.settings.policy_file)

    @property
    def thresholds(self) -> Thresholds:
        return self.policy.thresholds_for(self.rt.settings.embeddings_mode)

    @cached_property
    def metrics(self) -> SupportMetrics:
        return SupportMetrics(self.rt.metrics.registry)

    @cached_property
    def knowledge_base(self) -> KnowledgeBase:
        if self.knowledge_base_override is not None:
            return self.knowledge_base_override
        from config.settings import DEFAULTS_DIR
        from tools.content_library import open_chroma
        from tools.embeddings import build_embedding_function
        from tools.knowledge_base import KnowledgeBase

        kb = KnowledgeBase(open_chroma(self.rt.settings),
                           build_embedding_function(self.rt.settings))
        if self.policy.seed_sample_kb and kb.count() == 0:
            # A fresh install answers from the shipped sample articles until `hitl kb add`.
            log.info("knowledge base is empty; indexing the shipped sample articles")
            kb.index_folder(DEFAULTS_DIR / "kb")
        return kb

    @cached_property
    def answerer(self) -> Answerer:
        if self.answerer_override is not None:
            return self.answerer_override
        from agent.language import language_of_text
        from agent.support.answers import build_answerer
        from tools.knowledge_base import best_passage

        policy = self.rt.policy

        def language_of(question: str) -> str:
            # Support questions are short: one more stop word than none decides.
            return language_of_text([question], policy, min_hits=2) or policy.languages.default

        return build_answerer(self.rt.settings, pick_passage=best_passage,
                              language_of=language_of)

    @cached_property
    def graph(self) -> Any:
        from agent.support.graph import build_conversation_graph

        return build_conversation_graph(self.rt.checkpointer)


def support(rt: AppRuntime) -> SupportServices:
    """The runtime's support services (built on first use, then reused)."""
    services = rt.support_services
    if services is None:
        with _LOCK:  # two threads' first use build one set (one metrics registration)
            services = rt.support_services
            if services is None:
                services = rt.support_services = SupportServices(rt)
    return services


def install_support(rt: AppRuntime, *, policy: SupportPolicy | None = None,
                    knowledge_base: KnowledgeBase | None = None,
                    answerer: Answerer | None = None) -> SupportServices:
    """Replace the runtime's support services with ones using these parts (tests, evals).

    Metrics already registered on the runtime's registry are kept (a registry refuses a second
    collector of the same name)."""
    with _LOCK:
        previous = rt.support_services
        services = SupportServices(rt, policy_override=policy,
                                   knowledge_base_override=knowledge_base,
                                   answerer_override=answerer)
        if previous is not None and "metrics" in previous.__dict__:
            services.__dict__["metrics"] = previous.metrics
        rt.support_services = services
    return services


def support_lead(rt: AppRuntime, policy: SupportPolicy) -> Any:
    """The roster member unclaimed transfers escalate to: the policy's `support_lead`, else the
    first support member who is not out of office, else a manager."""
    if policy.support_lead:
        member = rt.roster.find(policy.support_lead)
        if member is not None:
            return member
        log.warning("support_lead %r is not on the roster; using the first support member",
                    policy.support_lead)
    team = [m for m in rt.roster.members if m.role == "support"]
    available = [m for m in team if not m.out_of_office]
    if available or team:
        return (available or team)[0]
    managers = rt.roster.managers()
    return managers[0] if managers else None
