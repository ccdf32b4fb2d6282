"""The model drafter: a chat model through structured output, its answer checked before a rep
sees it. LangChain and the OpenAI client are imported only when a chat model is built."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.drafting.contract import (
    DRAFT_RESPONSE_SCHEMA,
    MAX_BODY_CHARS,
    MAX_SUBJECT_CHARS,
    DraftRejected,
    DraftRequest,
    DraftText,
)
from agent.drafting.meeting import wants_meeting
from agent.drafting.revise import read_instruction
from agent.email_rules import clean_header_text
from agent.language import language_name
from agent.models import Draft, LeadProfile
from config.http import api_client, async_api_client
from prompts import DRAFT_TEMPLATES, prompt_set_version, render

if TYPE_CHECKING:
    import httpx
    from langchain_core.language_models import BaseChatModel
    from langchain_openai import ChatOpenAI

    from config.settings import Settings

_PLACEHOLDER = re.compile(
    r"\[[^\]\n]{1,60}\]"  # [First Name], [Company], [link]
    r"|\{\{|\}\}|\{[A-Za-z_ ]{1,40}\}"  # {{ x }}, {first_name}
    r"|<[A-Z][A-Za-z _]{1,40}>"  # <First Name>
    r"|\b(?:YOUR|FIRST|LAST|COMPANY)[ _](?:NAME|COMPANY)\b"
    r"|\bX{2,}\b"
    r"|‹[^›\n]{1,40}›"  # ‹first_name›, ‹number›: the placeholders of redacted style examples
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)


def _meeting_times(request: DraftRequest) -> list[str]:
    """The offered meeting times as the model reads them: "Monday 2026-12-07 10:00 EST"."""
    try:
        zone = ZoneInfo(request.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return [at.astimezone(zone).strftime("%A %Y-%m-%d %H:%M %Z")
            for at in request.meeting_times[:2]]


def _lead_for_prompt(lead: LeadProfile) -> dict[str, Any]:
    """What the model sees of the record: no email address, so it has none to play with."""
    return lead.model_dump(mode="json", exclude={"email", "domain"}, exclude_none=True)


def check_draft_text(text: DraftText, *, lead: LeadProfile, allowed_text: str) -> DraftText:
    """Reject model output a rep should never be shown; return it trimmed when it passes.

    `allowed_text` is the package as JSON: a link in the draft must appear there verbatim.
    """
    # One header line, whatever the model wrote: a CR/LF or U+2028 becomes a space, so a
    # "\r\nBcc: ..." can never become a header (and the address in it is caught below).
    subject, body = clean_header_text(text.subject, limit=10 * MAX_SUBJECT_CHARS), text.body.strip()
    if not subject or not body:
        raise DraftRejected("empty subject or body")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise DraftRejected("subject too long")
    if len(body) > MAX_BODY_CHARS:
        raise DraftRejected("body too long")
    if _PLACEHOLDER.search(subject) or _PLACEHOLDER.search(body):
        raise DraftRejected("unfilled placeholder")
    for address in _EMAIL.findall(f"{subject}\n{body}"):
        if address.lower() != lead.email.lower():
            raise DraftRejected("unexpected email address")
    for url in _URL.findall(f"{subject}\n{body}"):
        if url.rstrip(".,;:!?") not in allowed_text:
            raise DraftRejected("unknown link")
    return DraftText(subject=subject, body=body)


class ModelDrafter:
    """Drafts with a chat model through structured output (`DraftText`, JSON schema)."""

    def __init__(self, chat_model: BaseChatModel, *, sender_role: str = "sales rep") -> None:
        self.chat_model = chat_model
        self.sender_role = sender_role
        # Structured output, asked for in the request body and checked here. Not through
        # `with_structured_output` or a bound `response_format`: LangChain then sends every call
        # through the SDK's beta `parse` helper, which rebuilds the JSON schema and typed
        # `Parsed*` models per call (~1 ms of CPU a draft, for objects nobody reads). The request
        # on the wire is the same; refusals and cut-off answers are told apart below.
        self.structured = chat_model.bind(
            extra_body={"response_format": {"type": "json_schema",
                                            "json_schema": DRAFT_RESPONSE_SCHEMA}})

    def messages(self, request: DraftRequest) -> list[tuple[str, str]]:
        """The system and user messages for one draft (exposed for tests and evals)."""
        previous = request.previous
        # The language: the rep's revise instruction may ask for another one; else the lead's.
        language = read_instruction(request.instructions).language or request.language
        system_name, user_name = (request.templates.get(n, n) for n in DRAFT_TEMPLATES)
        system = render(system_name, base_template=DRAFT_TEMPLATES[0],
                        sender_name=request.sender_name, language=language,
                        language_name=language_name(language),
                        meeting_times=_meeting_times(request)
                        if wants_meeting(request.context.recommended_action.next_step) else [])
        user = render(
            user_name, base_template=DRAFT_TEMPLATES[1],
            lead=_lead_for_prompt(request.lead),
            package=request.context.as_prompt(),
            sender_name=request.sender_name,
            sender_role=self.sender_role,
            instruction=request.instructions,
            previous=({"subject": previous.subject, "body": previous.body}
                      if previous is not None else None),
            style_examples=[example.as_prompt() for example in request.style_examples],
        )
        return [("system", system), ("human", user)]

    def draft(self, request: DraftRequest) -> Draft:
        lead, context = request.lead, request.context
        messages = self.messages(request)
        answer = self.structured.invoke(messages)
        finish_reason = answer.response_metadata.get("finish_reason")
        if answer.additional_kwargs.get("refusal") or finish_reason == "content_filter":
            raise DraftRejected("refused")
        if finish_reason == "length":
            raise DraftRejected("response cut off")
        if not isinstance(answer.content, str) or not answer.content.strip():
            raise DraftRejected("invalid output")
        text = DraftText.model_validate_json(answer.content)  # bad JSON: "invalid output"
        allowed = json.dumps(context.as_prompt(), ensure_ascii=False)
        checked = check_draft_text(text, lead=lead, allowed_text=allowed)
        return Draft(to=lead.email, subject=checked.subject, body=checked.body, source="model",
                     note=None, prompt_version=prompt_set_version(*dict.fromkeys(
                         (*(request.templates.get(n, n) for n in DRAFT_TEMPLATES),
                          *DRAFT_TEMPLATES))))


def build_chat_model(
    settings: Settings,
    http_client: httpx.Client | None = None,
    http_async_client: httpx.AsyncClient | None = None,
) -> ChatOpenAI:
    """A ChatOpenAI for any OpenAI-compatible chat-completions endpoint.

    The explicit (legacy) httpx clients carry the timeout and pool limits, and are what respx
    can intercept: openai 3.x's own default client is httpx2, which respx does not patch.
    """
    import httpx
    from langchain_openai import ChatOpenAI

    timeout = httpx.Timeout(settings.model_timeout_s,
                            connect=min(10.0, settings.model_timeout_s))
    # As many connections kept alive as may be open (httpx's default pool keeps 20; this kept
    # 10, and a burst of drafts reopened most of them): Settings.outbound_connections.
    connections = settings.outbound_connections
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    if http_client is None:
        http_client = api_client(timeout=timeout, limits=limits)
    if http_async_client is None:
        http_async_client = async_api_client(timeout=timeout, limits=limits)
    return ChatOpenAI(
        model=settings.model,
        api_key=settings.openai_api_key or "not-needed",  # type: ignore[arg-type]
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_s,
        max_retries=settings.model_max_retries,
        use_responses_api=False,
        http_client=http_client,
        http_async_client=http_async_client,
    )
