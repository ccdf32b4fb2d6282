"""What a draft may say besides the package and the lead's record, for the grounding check: the
facts the draft request itself carries (the meeting times offered, the lead's own question) and,
for an offline draft, the words of the template that wrote it (our text, in the lead's language:
German nouns are capitalised, and "Donnerstag" or "Uhr" is no invented name)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.models import Draft
from prompts import PROMPTS_DIR


def _template_text(language: str) -> str:
    suffix = "" if language == "en" else f".{language}"
    names = (f"offline_draft_subject{suffix}.j2", f"offline_draft_body{suffix}.j2")
    return " ".join((PROMPTS_DIR / n).read_text(encoding="utf-8") for n in names
                    if (PROMPTS_DIR / n).is_file())


def draft_facts(inputs: dict[str, Any], draft: Draft) -> dict[str, Any]:
    """The request's own facts as text the grounding check may find claims in."""
    try:
        zone = ZoneInfo(inputs.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    times = [at.astimezone(zone) for at in inputs.get("meeting_times", ())]
    facts: dict[str, Any] = {
        "meeting_times": [f"{t:%A %d %B %H:%M %Z} {t.day} {t.hour}h{t:%M}" for t in times],
        "meeting_minutes": inputs.get("meeting_minutes"),
        "lead_question": inputs.get("lead_question"),
    }
    if draft.source == "offline":
        language = inputs.get("language") or "en"
        facts["template"] = _template_text(language)
        if draft.note and " in " in draft.note.split(":", 1)[0]:  # a revise into a language
            facts["template"] += " " + " ".join(_template_text(code) for code in ("de", "fr", "es"))
    return facts
