"""The fallback: the model drafter first, the offline draft on any failure, labelled for the rep
with a short category (never raw error text); and `build_drafter`, which picks the pair."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.drafting.contract import Drafter, DraftRejected, DraftRequest
from agent.drafting.model import ModelDrafter, build_chat_model
from agent.drafting.offline import OfflineDrafter
from agent.models import Draft

if TYPE_CHECKING:
    import httpx

    from config.settings import Settings

log = logging.getLogger(__name__)

FALLBACK_NOTE = "fallback draft — review carefully"


def failure_category(exc: BaseException) -> tuple[str, str]:
    """(`unavailable` | `unusable`, short category) for a failed model draft. No raw text."""
    if isinstance(exc, DraftRejected):
        return "unusable", exc.reason
    import httpx
    import openai
    from pydantic import ValidationError

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return "unavailable", "timeout"
    if isinstance(exc, openai.RateLimitError):
        return "unavailable", "rate limited"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return "unavailable", "authentication failed"
    if isinstance(exc, openai.APIStatusError):
        kind = "server error" if exc.status_code >= 500 else f"HTTP {exc.status_code}"
        return "unavailable", kind
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return "unavailable", "connection error"
    if isinstance(exc, openai.LengthFinishReasonError):
        return "unusable", "response cut off"
    if (isinstance(exc, openai.ContentFilterFinishReasonError)
            or type(exc).__name__ == "OpenAIRefusalError"):
        return "unusable", "refused"
    if isinstance(exc, ValidationError | ValueError):  # bad JSON, wrong shape, no parsed output
        return "unusable", "invalid output"
    return "unavailable", "error"


class FallbackDrafter:
    """Tries `primary`; on any failure returns `fallback`'s draft, labelled for the rep."""

    def __init__(self, primary: Drafter, fallback: Drafter) -> None:
        self.primary = primary
        self.fallback = fallback

    def draft(self, request: DraftRequest) -> Draft:
        lead = request.lead
        try:
            written = self.primary.draft(request)
        except Exception as exc:  # any model failure must still leave the rep a draft
            state, category = failure_category(exc)
            log.warning("model draft failed for lead %s (%s, %s); using the fallback draft",
                        lead.lead_id, category, type(exc).__name__)
            log.debug("model draft failure detail", exc_info=True)
        else:
            return written.model_copy(update={"to": lead.email})
        lead_in = "model unavailable" if state == "unavailable" else "model draft unusable"
        return fallback_draft(self.fallback, request, f"{lead_in} ({category})")


def fallback_draft(drafter: Drafter, request: DraftRequest, reason: str) -> Draft:
    """`drafter`'s draft standing in for a model draft that failed for `reason`, labelled so."""
    note = f"{reason}; {FALLBACK_NOTE}"
    if request.instruction:  # a person's (an experiment's variant_instruction is never named)
        note += "; instruction noted for the rep"
    backup = drafter.draft(request)
    return backup.model_copy(update={"to": request.lead.email, "source": "fallback",
                                     "note": note})


def build_drafter(
    settings: Settings,
    *,
    http_client: httpx.Client | None = None,
    http_async_client: httpx.AsyncClient | None = None,
) -> Drafter:
    """The model drafter with the offline one as fallback, or the offline one alone."""
    if not settings.model_endpoint_configured:
        return OfflineDrafter()
    chat_model = build_chat_model(settings, http_client, http_async_client)
    return FallbackDrafter(ModelDrafter(chat_model), OfflineDrafter())
