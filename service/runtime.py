"""The application's dependencies, built once per process from Settings and injected everywhere.

Surfaces (HTTP API, Slack, CLI, evals) and the LangGraph nodes receive an `AppRuntime`; nothing
reads global state. Heavy parts (the model client, Chroma, the checkpointer) are built lazily so
`hitl --help` and the pure-policy tests stay fast.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from agent.policy import Policy, Roster, load_policy, load_roster
from config.clock import Clock, SystemClock
from config.settings import Settings
from service.crm_events import load_checked_mapping
from service.metrics import Metrics
from store.db import Database
from tools.crm.mapping import CrmMapping

if TYPE_CHECKING:
    from agent.drafting import Drafter
    from service.support import SupportServices
    from tools.content_library import ContentLibrary
    from tools.crm.hubspot_api import HubSpotContacts
    from tools.crm.writer import CrmWriter
    from tools.email import EmailSender
    from tools.marketing import MarketingAutomation

log = logging.getLogger(__name__)


@dataclass
class AppRuntime:
    settings: Settings
    db: Database
    policy: Policy
    roster: Roster
    clock: Clock = field(default_factory=SystemClock)
    metrics: Metrics = field(default_factory=Metrics)
    drafter_override: Drafter | None = None
    sender_override: EmailSender | None = None
    library_override: ContentLibrary | None = None
    marketing_override: MarketingAutomation | None = None
    # Called after a transaction queues work, so the worker picks it up without polling delay.
    wake_worker: Any = None
    # Job handlers the surfaces add (Slack posts, support cards), registered by the composition
    # root (hitl.wiring): the service layer runs them without knowing its surfaces.
    job_handlers: dict[str, Any] = field(default_factory=dict)
    # The support conversation's parts, built on first use by `service.support.support(rt)`
    # (or installed with other parts by `install_support`).
    support_services: SupportServices | None = None
    # HITL_CRM_FILE, checked at start-up (service/crm_events.py; tools/crm/mapping.py).
    crm_mapping: CrmMapping | None = None
    # CRM write-back (service/crm_writeback.py): tests and the demo install a recording
    # double here; otherwise the CRMs whose API settings are present.
    crm_override: list[CrmWriter] | None = None

    # -- lazily built parts ------------------------------------------------------------------

    @cached_property
    def drafter(self) -> Drafter:
        if self.drafter_override is not None:
            return self.drafter_override
        from agent.drafting import build_drafter

        return build_drafter(self.settings)

    @cached_property
    def email_sender(self) -> EmailSender | None:
        """None when no HITL_SMTP_URL: sends are recorded as not_sent, never dropped."""
        if self.sender_override is not None:
            return self.sender_override
        if not self.settings.smtp_url:
            return None
        from tools.email import SmtpEmailSender

        return SmtpEmailSender(self.settings.smtp_url)

    @cached_property
    def marketing(self) -> MarketingAutomation | None:
        """None when HITL_MARKETING_URL is unset: enrolments are recorded, not dropped."""
        if self.marketing_override is not None:
            return self.marketing_override
        if not self.settings.marketing_url:
            return None
        from tools.marketing import HttpMarketingAutomation

        return HttpMarketingAutomation(self.settings.marketing_url, self.settings.marketing_token)

    @cached_property
    def crm_writers(self) -> list[CrmWriter]:
        """The CRMs to write outcomes back to; empty (write-back off) when none is set."""
        if self.crm_override is not None:
            return list(self.crm_override)
        from tools.crm.configured import writers_from_settings

        return writers_from_settings(self.settings, self.crm_mapping)

    @cached_property
    def hubspot_contacts(self) -> HubSpotContacts:
        """HubSpot's contact reader for webhook deliveries and backfills (its cache lives as long
        as the process)."""
        from tools.crm.hubspot_api import HubSpotContacts

        return HubSpotContacts(self.settings.hubspot_api_url,
                               self.settings.hubspot_access_token or "", now=self.clock.now)

    @cached_property
    def content_library(self) -> ContentLibrary | None:
        if self.library_override is not None:
            return self.library_override
        try:
            from tools.content_library import ContentLibrary, open_chroma
            from tools.embeddings import build_embedding_function

            library = ContentLibrary(open_chroma(self.settings),
                                     build_embedding_function(self.settings))
            # HITL_CONTENT_PATH: mirrored from the first search on, and whenever a file changes
            # (every process watches for itself: the worker builds the packages).
            for folder in self.settings.content_folders:
                library.watch_folder(folder)
            return library
        except Exception:  # the package is still useful without an asset; say so in the log
            log.exception("content library unavailable; packages will carry no asset")
            return None

    @cached_property
    def style_collection(self) -> Any:
        """The Chroma collection of approved edit pairs, opened once per process (opening a
        client and collection costs more than the lookups drafting makes on every lead)."""
        from tools.style_examples import open_collection

        return open_collection(self.settings)

    @cached_property
    def checkpointer(self) -> Any:
        if self.db.is_sqlite:
            from langgraph.checkpoint.sqlite import SqliteSaver

            path = make_url(self.db.url).database or ":memory:"
            conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            saver = SqliteSaver(conn)
            # One queue for every writer of this database file (see Database; README,
            # "Performance choices").
            if self.db.write_lock is not None:
                saver.lock = self.db.write_lock  # type: ignore[assignment]
        else:
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool

            url = make_url(self.db.url).set(drivername="postgresql")
            pool = ConnectionPool(
                url.render_as_string(hide_password=False),
                min_size=1, max_size=self.settings.db_pool_size, open=True,
                kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            )
            saver = PostgresSaver(pool)  # type: ignore[arg-type,assignment]
        saver.setup()
        return saver

    @cached_property
    def graph(self) -> Any:
        from agent.graph import build_handoff_graph

        return build_handoff_graph(self.checkpointer)

    @cached_property
    def assistant_graph(self) -> Any:
        """The rep's assistant (agent/assistant), on the same checkpointer as the handoffs."""
        from agent.assistant.graph import build_assistant_graph

        return build_assistant_graph(self.checkpointer)

    @cached_property
    def assistant_planner(self) -> Any:
        """The assistant's tool-calling model, or None offline (the intent parser answers)."""
        if not self.settings.model_endpoint_configured:
            return None
        from agent.assistant.model import build_planner

        return build_planner(self.settings)

    def warm_up(self) -> None:
        """Build what jobs touch first (the graph and its checkpointer, the drafter, the content
        library), in a worker about to start: the first lead does not pay for it, and the
        process's long-lived objects exist before the caller freezes them out of the garbage
        collector's reach (`gc.freeze`)."""
        _ = self.graph, self.drafter, self.content_library, self.email_sender

    def notify_work(self) -> None:
        if self.wake_worker is not None:
            self.wake_worker()

    def open_checkpointer(self) -> Any:
        """The checkpointer if this process has opened it, else None (without opening it)."""
        return self.__dict__.get("checkpointer")  # where cached_property keeps what it built

    def close(self) -> None:
        self.db.dispose()
        conn = getattr(self.open_checkpointer(), "conn", None)
        if conn is not None:
            conn.close()


def build_runtime(settings: Settings, **overrides: Any) -> AppRuntime:
    """Wire the app from settings; tests pass `clock=`, `drafter_override=`, `sender_override=`."""
    if "crm_mapping" not in overrides:
        overrides["crm_mapping"] = load_checked_mapping(settings.crm_file)
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    return AppRuntime(
        settings=settings,
        db=db,
        policy=load_policy(settings.policy_file),
        roster=load_roster(settings.team_file),
        **overrides,
    )
