"""The offline answer gives the steps of the help-article section that matches the question (the
list under the best heading), not the first sentence of whatever section the search ranked
first; prose sections are still quoted from the article; a long list says how much it left out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agent.support.answers import MAX_STEPS_CHARS, OfflineAnswerer
from agent.support.models import ArticleRef, KbMatch
from agent.support.sections import choose_section, split_steps
from config.settings import DEFAULTS_DIR
from service.support_sections import best_section
from tests.conftest import make_settings
from tests.support.chat import say
from tools.knowledge_base import KnowledgeBase, best_passage

SSO_STEPS = [
    "In **Settings → Security → Single sign-on** copy the ACS URL and the Entity ID.",
    "Create a SAML app in Okta, Microsoft Entra ID (Azure AD) or Google Workspace with those "
    "values; the NameID must be the user's email address.",
    "Paste the identity provider's metadata URL back into our settings and click **Test "
    "connection**.",
]
REPORTS_ARTICLE = """---
title: Scheduled reports
category: reports
tags: [reports, schedule, email]
summary: Sending a report by email every week.
---

# Scheduled reports

Scheduled reports are available on every plan.

## Schedule a report

Open the report you want to send.

- Click **Share → Schedule**.
- Pick the weekday and the time
  (in your workspace's time zone).
- Add the recipients and click **Save**.

Recipients outside your workspace get a PDF.

## Report history

Every sent report is kept for 90 days under **Reports → History**.
"""


def _steps_in(text: str) -> list[str]:
    return [re.sub(r"^(\d+\.|-)\s+", "", line) for line in text.splitlines()
            if re.match(r"^(\d+\.|-)\s+", line)]


def test_split_steps_joins_wrapped_items_and_keeps_lead_in_and_note() -> None:
    section = REPORTS_ARTICLE.split("## Schedule a report", 1)[1].split("## Report history")[0]
    parts = split_steps(section)
    assert parts.intro == ["Open the report you want to send."]
    assert parts.steps == ["Click **Share → Schedule**.",
                           "Pick the weekday and the time (in your workspace's time zone).",
                           "Add the recipients and click **Save**."]
    assert not parts.numbered
    assert parts.outro == ["Recipients outside your workspace get a PDF."]
    numbered = split_steps("1. One\n2. Two\n   still two\n3) Three")
    assert numbered.numbered and numbered.steps == ["One", "Two still two", "Three"]
    assert split_steps("Just prose.\nOver two lines.").steps == []


def test_sso_question_gets_the_connect_steps_not_the_articles_first_sentence(
        support_kb: Any) -> None:
    question = "How do I set up SSO with Okta?"
    top = support_kb.search(question)[0]
    chosen = best_section(support_kb, question, top)
    assert chosen.article.path == "sso-saml-setup.md"
    assert chosen.article.section == "Connect your identity provider"
    answer = OfflineAnswerer(best_passage).answer(question, [chosen], first_name="Ada")
    assert _steps_in(answer.text) == SSO_STEPS  # every step, in order, verbatim
    assert "1. In **Settings" in answer.text and "3. Paste" in answer.text
    assert "available on the Enterprise plan" not in answer.text
    assert "(Connect your identity provider)" in answer.text
    assert "Source: “Setting up SAML single sign-on (SSO) and SCIM”" in answer.text


def test_the_bot_answers_with_the_steps_through_the_api(support_client: Any) -> None:
    reply = say(support_client, "How do I set up SSO with Okta?", conversation="sso-1",
                email="ada@acme.io", name="Ada Park")
    assert reply["status"] == "bot" and reply["handoff_id"] is None
    assert _steps_in(reply["reply"]) == SSO_STEPS


def test_the_heading_with_steps_wins_over_the_lead_in(tmp_path: Path) -> None:
    from tools.content_library import open_chroma
    from tools.embeddings import build_embedding_function

    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "scheduled-reports.md").write_text(REPORTS_ARTICLE, encoding="utf-8")
    kb = KnowledgeBase(open_chroma(make_settings(tmp_path)),
                       build_embedding_function(make_settings(tmp_path)))
    kb.index_folder(folder)
    question = "How can I schedule a report by email every week?"
    chosen = best_section(kb, question, kb.search(question)[0])
    assert chosen.article.section == "Schedule a report"
    text = OfflineAnswerer(best_passage).answer(question, [chosen]).text
    assert text.index("Open the report you want to send.") < text.index("- Click **Share")
    assert _steps_in(text)[1] == "Pick the weekday and the time (in your workspace's time zone)."
    assert "Recipients outside your workspace get a PDF." in text
    assert "available on every plan" not in text


def test_choose_section_reads_the_action_and_skips_a_lead_in_without_steps() -> None:
    sections = [(None, "Everything about users."),
                ("Invite teammates", "Admins invite people by email."),
                ("Roles", "- **Owner**: billing.\n- **Viewer**: read-only.")]
    # Alike embeddings for all: the words decide ("change a role" is not "invite").
    assert choose_section("How do I change a user's role?", sections, [0.3, 0.3, 0.3]) == 2
    assert choose_section("How do I invite a teammate?", sections, [0.3, 0.3, 0.3]) == 1
    # The lead-in is only chosen when it is all there is.
    assert choose_section("users", [(None, "Everything about users.")], [0.9]) == 0


def test_prose_sections_are_still_quoted_from_the_article(support_kb: Any) -> None:
    question = "How do I reset my password?"
    chosen = best_section(support_kb, question, support_kb.search(question)[0])
    text = OfflineAnswerer(best_passage).answer(question, [chosen]).text
    assert "> On the sign-in page click **Forgot password?**" in text
    article = " ".join((DEFAULTS_DIR / "kb" / "password-reset-and-login.md").read_text(
        encoding="utf-8").split())
    assert all(line[2:] in article for line in text.splitlines() if line.startswith("> "))


def test_a_long_list_keeps_whole_steps_and_says_how_many_it_left_out() -> None:
    steps = [f"Step {i}: " + " ".join(["do the thing carefully"] * 8) for i in range(1, 21)]
    passage = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))
    match = KbMatch(article=ArticleRef(title="Long", path="long.md", section="Many steps"),
                    passage=passage, similarity=0.5)
    text = OfflineAnswerer(best_passage).answer("How?", [match]).text
    shown = _steps_in(text)
    assert shown[:-1] == steps[:len(shown) - 1]  # whole steps, in order
    assert re.fullmatch(r"\(and \d+ more steps in the article\)", shown[-1])
    left = int(re.search(r"\d+", shown[-1]).group(0))  # type: ignore[union-attr]
    assert len(shown) - 1 + left == len(steps)
    assert sum(len(s) for s in shown[:-1]) <= MAX_STEPS_CHARS
