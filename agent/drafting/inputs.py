"""The draft request's fields that come from the lead's history and the owner: the language to
write in, the lead's question, and two meeting times. Pure: `now` is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agent.drafting.lead_text import lead_messages, lead_question
from agent.drafting.meeting import meeting_times, owner_zone
from agent.language import lead_language
from agent.models import LeadProfile, Signal
from agent.policy import Policy


def draft_inputs(lead: LeadProfile, signals: Sequence[Signal], policy: Policy, now: datetime,
                 owner_timezone: str | None = None) -> dict[str, Any]:
    """Keyword arguments for `DraftRequest`: language, lead_question, lead_asked,
    question_topic, meeting_times, meeting_minutes, timezone."""
    messages = lead_messages(signals)
    language = lead_language(lead.country, messages, policy).language
    question = lead_question(messages, policy, language)
    zone = owner_zone(policy, owner_timezone)
    return dict(
        language=language,
        lead_question=(question.text or None) if question else None,
        lead_asked=question.is_question if question else True,
        # Set without a question: the lead asked something we answer by topic, unquoted.
        question_topic=(question.topic or (None if question.text else "other"))
        if question else None,
        meeting_times=meeting_times(now, policy, owner_timezone),
        meeting_minutes=policy.drafting.meeting_minutes,
        timezone=zone.key,
    )
