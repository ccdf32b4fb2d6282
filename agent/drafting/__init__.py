"""Writing the follow-up email a human approves: a model drafter, an offline one, and the fallback
that joins them.

Whatever writes the text, the recipient is always the lead record's address: the model's output
schema (`DraftText`) has no recipient field, and every drafter sets `Draft.to = lead.email`.
Prompts live in `prompts/`; nothing here holds prompt text. LangChain and the OpenAI client are
imported only when a model drafter is built.

Layout: `contract` (`DraftRequest`, the one argument every drafter takes, the `Drafter` protocol,
`DraftText`, `DraftRejected`), `offline`, `model` (with `check_draft_text` and `build_chat_model`)
and `fallback` (with `fallback_draft` and `build_drafter`).
"""

from agent.drafting.contract import Drafter, DraftRejected, DraftRequest, DraftText
from agent.drafting.fallback import (
    FALLBACK_NOTE,
    FallbackDrafter,
    build_drafter,
    failure_category,
    fallback_draft,
)
from agent.drafting.model import ModelDrafter, build_chat_model, check_draft_text
from agent.drafting.offline import OfflineDrafter

__all__ = [
    "FALLBACK_NOTE",
    "DraftRejected",
    "DraftRequest",
    "DraftText",
    "Drafter",
    "FallbackDrafter",
    "ModelDrafter",
    "OfflineDrafter",
    "build_chat_model",
    "build_drafter",
    "check_draft_text",
    "failure_category",
    "fallback_draft",
]
