"""The KPI report's customer-satisfaction section (reports/kpi/csat.py, _csat.html.j2) on an
empty store and on one seeded through the real flows: bot-only vs transferred, by trigger and
by agent, the response rate, and a hostile comment shown escaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from reports.kpi.build import build_kpi_report
from reports.render import render_kpi_html, render_kpi_markdown
from tests.conftest import make_settings
from tests.support.chat import say

HOSTILE = "<script>alert('x')</script> never again"


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, database_url: str) -> Settings:
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url)


def _person_resolves(client: Any, rt: Any, conversation_id: str) -> None:
    from service import personal_tokens

    sasha = {"Authorization": f"Bearer {personal_tokens.create(rt, 'U0SUP0001')[1]}"}
    say(client, "How do I export my data to CSV?", conversation_id, email="ada@acme.io")
    handoff = say(client, "This is useless. I want to talk to a human",
                  conversation_id)["handoff_id"]
    for step in ("claim", "resolve"):
        assert client.post(f"/v1/handoffs/{handoff}/{step}", headers=sasha).status_code == 200


def test_the_section_on_an_empty_store(support_rt: Any) -> None:
    run = build_kpi_report(support_rt)
    assert run["csat"]["available"] is False
    assert run["csat"]["reason"] == "no data: no support conversation was resolved yet"
    html = render_kpi_html(run)
    assert 'id="csat"' in html and "CSAT: no data" in html
    assert "- CSAT: no data: no support conversation was resolved yet" in \
        render_kpi_markdown(run)


def test_the_section_on_a_seeded_store(support_client: Any, support_rt: Any) -> None:
    # Bot only, rated 5.
    say(support_client, "How do I export my data to CSV?", "bot-1", email="bo@acme.io")
    assert say(support_client, "That worked, thank you", "bot-1")["status"] == "resolved"
    assert support_client.post("/v1/conversations/bot-1/rating",
                               json={"score": 5}).status_code == 200
    # Transferred (asked for a person), resolved by Sasha, rated 1 with a hostile comment.
    _person_resolves(support_client, support_rt, "human-1")
    assert support_client.post("/v1/conversations/human-1/rating",
                               json={"score": 1, "comment": HOSTILE}).status_code == 200
    # Resolved, not rated; and a callback asked for.
    _person_resolves(support_client, support_rt, "human-2")
    say(support_client, "call me tomorrow morning", "cb-1", email="cy@acme.io")

    cs = build_kpi_report(support_rt)["csat"]
    assert cs["available"] is True and cs["small_sample"] is True
    assert cs["overall"]["ratings"] == 2 and cs["overall"]["csat"] == 0.5
    assert cs["overall"]["average"] == 3.0 and cs["overall"]["low"] == 1
    assert (cs["asked"], cs["response_rate"]) == (3, 0.6667)
    paths = {r["key"]: (r["ratings"], r["csat"], r["average"]) for r in cs["by_path"]}
    assert paths == {"bot_only": (1, 1.0, 5.0), "transferred": (1, 0.0, 1.0)}
    assert [(r["key"], r["ratings"]) for r in cs["by_trigger"]] == [("asked_for_human", 1)]
    assert [(r["key"], r["name"], r["average"]) for r in cs["by_agent"]] == [
        ("U0SUP0001", "Sasha Support", 1.0)]
    assert cs["followups"]["opened"] == 1
    assert cs["recent_low"][0]["comment"] == HOSTILE  # nothing in it names anyone
    assert cs["callbacks"]["scheduled"] == 1 and cs["callbacks"]["open"] == 1

    html = render_kpi_html(build_kpi_report(support_rt))
    section = html[html.index('<section id="csat">'):]
    section = section[:section.index("</section>")]
    assert "Bot only vs transferred" in section and "asked_for_human" in section
    assert "Sasha Support" in section and "<script>" not in section
    assert "&lt;script&gt;" in section
    summary = render_kpi_markdown(build_kpi_report(support_rt))
    assert "- CSAT 50% (2 ratings, mean 3.0): bot only 100% · transferred 0%" in summary


def test_a_published_comment_says_what_was_wrong_not_who_said_it(
        support_client: Any, support_rt: Any) -> None:
    """A report is a file that outlives an erasure of the customer: their comment keeps its
    words, not the names, addresses and numbers in it (the rating row keeps them all)."""
    import json

    comment = "Maria Lopez at Keystone (maria@keystone.example, +1 555 0100) never called back"
    _person_resolves(support_client, support_rt, "named-1")
    assert support_client.post("/v1/conversations/named-1/rating",
                               json={"score": 1, "comment": comment}).status_code == 200
    run = build_kpi_report(support_rt)
    assert run["csat"]["recent_low"][0]["comment"] == \
        "‹name› at ‹name› (‹email›, ‹number› never called back"
    for published in (json.dumps(run), render_kpi_html(run), render_kpi_markdown(run)):
        for detail in ("Maria", "Lopez", "Keystone", "maria@", "555 0100"):
            assert detail not in published


def test_an_address_at_the_comments_cut_is_redacted_whole(
        support_client: Any, support_rt: Any) -> None:
    from reports.kpi.csat import COMMENT_CHARS

    comment = "x" * (COMMENT_CHARS - 14) + " jane.doe@acme.example said so"
    _person_resolves(support_client, support_rt, "cut-1")
    assert support_client.post("/v1/conversations/cut-1/rating",
                               json={"score": 1, "comment": comment}).status_code == 200
    shown = build_kpi_report(support_rt)["csat"]["recent_low"][0]["comment"]
    assert "jane" not in shown and "acme" not in shown and len(shown) <= COMMENT_CHARS
