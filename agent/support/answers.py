"""Grounded answers to customer questions: from a chat model reading the retrieved articles, or,
offline, the most relevant passage of the best article quoted with its title.

Both cite the article. Neither answers without a knowledge-base match above the policy's
threshold (the graph routes a miss to "not found" before an answerer is called), and the model's
own "I could not find it" counts as a miss too. Prompts live in `prompts/`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agent.support.models import ArticleRef, BotAnswer, KbMatch
from agent.support.sections import split_steps
from prompts import PROMPTS_DIR, prompt_set_version, render

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from config.settings import Settings

log = logging.getLogger(__name__)

ANSWER_TEMPLATES = ("support_answer_system.j2", "support_answer_user.j2")
MAX_ANSWER_CHARS = 1500
MAX_STEPS_CHARS = 1200     # the offline answer quotes at most this much of a section's steps
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)


class Answerer(Protocol):
    def answer(self, question: str, matches: list[KbMatch], *,
               first_name: str | None = None) -> BotAnswer:
        """Answer `question` from `matches` (best first, all above the threshold)."""
        ...


def citation(articles: list[ArticleRef]) -> str:
    titles = ", ".join(f"“{a.title}”" for a in articles)
    return f"Source: {titles}." if len(articles) == 1 else f"Sources: {titles}."


PassagePicker = Callable[[str, str], str]


class OfflineAnswerer:
    """Quotes the best article's section for the question. No model.

    A section with steps (a numbered or bulleted list) is answered with all its steps, in
    order, after its lead-in sentence (`agent.support.sections.split_steps`); a section of
    prose with the part that answers best: `pick_passage(section_text, question)` (the
    knowledge base's own similarity, `tools.knowledge_base.best_passage`, handed in)."""

    def __init__(self, pick_passage: PassagePicker,
                 language_of: Callable[[str], str] | None = None) -> None:
        self.pick_passage = pick_passage
        # The customer's language from their question (agent.language): the answer's own words
        # are written in it (prompts/support_offline_answer.<lang>.j2); the article is quoted
        # as written.
        self.language_of = language_of

    def answer(self, question: str, matches: list[KbMatch], *,
               first_name: str | None = None) -> BotAnswer:
        if not matches:
            raise ValueError("the offline answerer needs at least one knowledge-base match")
        best = matches[0]
        parts = split_steps(best.passage)
        context: dict[str, object] = {"steps": [], "numbered": parts.numbered,
                                      "intro": "", "outro": "", "passage": ""}
        if parts.steps:
            steps = _fit(parts.steps, MAX_STEPS_CHARS)
            left = MAX_STEPS_CHARS - sum(len(x) for x in steps)
            intro = " ".join(parts.intro)
            outro = " ".join(parts.outro)
            context.update(steps=steps, intro=intro if len(intro) <= left // 2 else "",
                           outro=outro if len(outro) + len(intro) <= left else "")
        else:
            context["passage"] = self.pick_passage(best.passage, question)
        text = render(_offline_template(self.language_of(question) if self.language_of
                                        else "en"), first_name=first_name,
                      title=best.article.title, section=best.article.section,
                      path=best.article.path, **context)
        return BotAnswer(text=text, answered=True, cited=[best.article], source="offline",
                         note="offline answer: quoted from the help center")


def _offline_template(language: str) -> str:
    name = f"support_offline_answer.{language}.j2"
    return name if language != "en" and (PROMPTS_DIR / name).is_file() \
        else "support_offline_answer.j2"


def _fit(steps: list[str], budget: int) -> list[str]:
    """Every step while they fit in `budget` characters; a cut list says so in its last item."""
    kept: list[str] = []
    used = 0
    for step in steps:
        if used + len(step) > budget and kept:
            kept.append(f"(and {len(steps) - len(kept)} more steps in the article)")
            break
        kept.append(step)
        used += len(step)
    return kept


class AnswerText(BaseModel):
    """What the model may write: the answer, whether the articles answered it, which it used."""

    model_config = ConfigDict(extra="ignore")

    answer: str = Field(description="2 to 5 short plain-text sentences for the customer.")
    answered: bool = Field(description="False when the articles do not answer the question.")
    used_articles: list[int] = Field(default_factory=list,
                                     description="Numbers of the articles the answer uses.")


class AnswerRejected(ValueError):
    """The model answered, but the answer is not fit to show a customer."""


def check_answer(text: AnswerText, matches: list[KbMatch]) -> AnswerText:
    answer = text.answer.strip()
    if not answer:
        raise AnswerRejected("empty answer")
    if len(answer) > MAX_ANSWER_CHARS:
        raise AnswerRejected("answer too long")
    allowed = "\n".join(m.passage for m in matches)
    for address in _EMAIL.findall(answer):
        if address not in allowed:
            raise AnswerRejected("unexpected email address")
    for url in _URL.findall(answer):
        if url.rstrip(".,;:!?") not in allowed:
            raise AnswerRejected("unknown link")
    return AnswerText(answer=answer, answered=text.answered, used_articles=text.used_articles)


class ModelAnswerer:
    """Answers with a chat model through structured output, from the retrieved articles only."""

    def __init__(self, chat_model: BaseChatModel) -> None:
        self._structured = chat_model.with_structured_output(AnswerText, method="json_schema")

    @staticmethod
    def messages(question: str, matches: list[KbMatch]) -> list[tuple[str, str]]:
        return [("system", render("support_answer_system.j2")),
                ("human", render("support_answer_user.j2", question=question,
                                 matches=[m.model_dump(mode="json") for m in matches]))]

    def answer(self, question: str, matches: list[KbMatch], *,
               first_name: str | None = None) -> BotAnswer:
        result = self._structured.invoke(self.messages(question, matches))
        parsed = result if isinstance(result, AnswerText) else AnswerText.model_validate(result)
        checked = check_answer(parsed, matches)
        version = prompt_set_version(*ANSWER_TEMPLATES)
        if not checked.answered:
            return BotAnswer(text=checked.answer, answered=False, source="model",
                             note=f"model found no answer in the articles ({version})")
        used = [matches[i - 1].article for i in dict.fromkeys(checked.used_articles)
                if 1 <= i <= len(matches)] or [matches[0].article]
        # The citation is ours, not the model's: it names exactly the articles it was given.
        return BotAnswer(text=f"{checked.answer}\n\n{citation(used)}", answered=True,
                         cited=used, source="model", note=version)


class FallbackAnswerer:
    """Tries `primary`; on any failure answers with `fallback` (the offline quote), labelled."""

    def __init__(self, primary: Answerer, fallback: Answerer) -> None:
        self.primary = primary
        self.fallback = fallback

    def answer(self, question: str, matches: list[KbMatch], *,
               first_name: str | None = None) -> BotAnswer:
        try:
            return self.primary.answer(question, matches, first_name=first_name)
        except Exception as exc:  # the customer still gets the grounded offline answer
            from agent.drafting import failure_category

            state, category = (("unusable", "rejected") if isinstance(exc, AnswerRejected)
                               else failure_category(exc))
            log.warning("model answer failed (%s, %s); quoting the article instead", category,
                        type(exc).__name__)
        backup = self.fallback.answer(question, matches, first_name=first_name)
        return backup.model_copy(update={
            "source": "fallback", "note": f"model {state} ({category}); offline answer"})


def build_answerer(settings: Settings, *, pick_passage: PassagePicker,
                   language_of: Callable[[str], str] | None = None) -> Answerer:
    """The model answerer with the offline one as fallback, or the offline one alone."""
    if not settings.model_endpoint_configured:
        return OfflineAnswerer(pick_passage, language_of)
    from agent.drafting import build_chat_model

    return FallbackAnswerer(ModelAnswerer(build_chat_model(settings)),
                            OfflineAnswerer(pick_passage, language_of))
