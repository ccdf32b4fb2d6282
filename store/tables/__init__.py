"""The relational schema, one module per area. One table per domain noun; Alembic migrations
in store/migrations (its env reads `Base.metadata`, which every module below fills on import).
"""

from store.tables.assistant import AssistantConversation, AssistantProposal, AssistantReply
from store.tables.base import Base, UtcDateTime
from store.tables.crm import CrmIdentity
from store.tables.experiments import ExperimentAssignment, ExperimentOutcome, ExperimentStop
from store.tables.feedback import SupportCallback, SupportRating
from store.tables.handoffs import Approval, Decision, Handoff, OutboxMessage
from store.tables.identity import PersonalToken
from store.tables.leads import AuditEntry, ErasedEvent, Event, Lead
from store.tables.queue import Job, WorkerHeartbeat
from store.tables.slack import SlackCard, SlackEventReceipt, SlackMessageLog
from store.tables.support import SupportConversation, SupportMessage, SupportTransfer

__all__ = [
    "Approval",
    "AssistantConversation",
    "AssistantProposal",
    "AssistantReply",
    "AuditEntry",
    "Base",
    "CrmIdentity",
    "Decision",
    "ErasedEvent",
    "Event",
    "ExperimentAssignment",
    "ExperimentOutcome",
    "ExperimentStop",
    "Handoff",
    "Job",
    "Lead",
    "OutboxMessage",
    "PersonalToken",
    "SlackCard",
    "SlackEventReceipt",
    "SlackMessageLog",
    "SupportCallback",
    "SupportConversation",
    "SupportMessage",
    "SupportRating",
    "SupportTransfer",
    "UtcDateTime",
    "WorkerHeartbeat",
]
