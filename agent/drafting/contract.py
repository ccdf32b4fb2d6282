"""What every drafter shares: what it is asked (`DraftRequest`), the `Drafter` protocol, what a
model may write (`DraftText`, no recipient field) and the refusal a drafter raises for a draft
unfit to show a rep."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agent.edit_pairs import EditPair
from agent.models import ContextPackage, Draft, LeadProfile

MAX_SUBJECT_CHARS = 120
MAX_BODY_CHARS = 2000


class DraftText(BaseModel):
    """What the model may write: a subject and a body. Deliberately no recipient field."""

    model_config = ConfigDict(extra="ignore")

    subject: str = Field(description="Email subject line, plain text, under 80 characters.")
    body: str = Field(
        description="Plain-text email body from greeting to sign-off, 60 to 140 words."
    )


# The structured-output format, built once; the same schema as the OpenAI SDK's strict mode
# derives from `DraftText`: every field required, nothing else allowed.
DRAFT_RESPONSE_SCHEMA: dict[str, Any] = {
    "name": "DraftText", "strict": True,
    "schema": {**DraftText.model_json_schema(), "additionalProperties": False},
}


class DraftRejected(ValueError):
    """The model answered, but its draft is not fit to show a rep (reason is a short category)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DraftRequest(BaseModel):
    """One draft to write: for `lead` from `context`, signed `sender_name`; with `instruction`,
    a revision of `previous`. `style_examples` (the rep's approved edits, redacted) are for a
    model to imitate; the offline drafter ignores them. `draft_inputs`
    (agent/drafting/inputs.py) fills the language, question and meeting fields.

    `instruction` is a person's (a rep's revise, or a follow-up the rep asked the assistant
    for) and the draft's note says how it was followed; `variant_instruction` is an
    experiment's (service/experiments.py), followed on every draft of the lead but never named
    in the note: a rep must not be able to tell a lead's variant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lead: LeadProfile
    context: ContextPackage
    sender_name: str
    instruction: str | None = None
    variant_instruction: str | None = None
    previous: Draft | None = None
    style_examples: tuple[EditPair, ...] = ()

    @property
    def instructions(self) -> str | None:
        """Everything the drafter must follow: the experiment's words first, so a person's
        later words win where the two disagree."""
        words = [w.strip() for w in (self.variant_instruction, self.instruction) if w and w.strip()]
        return "; ".join(words) or None

    # The language to write in (agent.language.lead_language), "en" when unknown.
    language: str = "en"
    # The lead's question from their newest message, already made quotable
    # (agent.drafting.lead_text), and what it is about; untrusted data either way.
    lead_question: str | None = None
    lead_asked: bool = True
    question_topic: str | None = None
    # Meeting starts (UTC) in the owner's business hours, to offer when the next step is a
    # meeting (agent.drafting.meeting), shown in `timezone` (the owner's).
    meeting_times: tuple[datetime, ...] = ()
    meeting_minutes: int = 30
    timezone: str | None = None
    # An experiment's templates (service/experiments.py): default template name -> the one to
    # render instead ({"offline_draft_body.j2": "offline_draft_body_short.j2"}); the draft's
    # prompt version names both. Empty for everybody outside a template experiment.
    templates: Mapping[str, str] = {}


class Drafter(Protocol):
    def draft(self, request: DraftRequest) -> Draft:
        """Write the draft `request` asks for; the recipient is always `request.lead.email`."""
        ...
