"""`hitl report`'s numbers from a store seeded by the real flow (REST API, worker, SMTP sink, a rep
who approves, edits, rejects, escalates and revises), from an empty store, and with or without the
support tables; style examples from approved edits."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.evals.html_checks import assert_self_contained
from tests.evals.kpi_seed import seed_store


@pytest.fixture
def seeded(client: Any, worker: Any, clock: Any) -> dict[str, Any]:
    return seed_store(client, worker, clock)


def test_kpis_from_a_store_seeded_by_the_real_flow(rt: Any, seeded: dict[str, Any],
                                                    smtp_sink: Any) -> None:
    from reports.kpi.build import build_kpi_report

    run = build_kpi_report(rt, days=90)
    o = run["overall"]
    assert o["handoffs"] == 9  # 7 planned, the return, and the booked meeting's hand-raise
    assert o["decided"] == 7 and o["pending"] == 2
    assert (o["approved"], o["edited"], o["rejected"]) == (4, 1, 2)
    assert o["approve_as_is_rate"] == round(4 / 7, 4) and o["edit_rate"] == round(1 / 7, 4)
    assert o["escalation_rate"] == round(1 / 7, 4) and o["revision_rate"] == round(1 / 7, 4)
    assert o["quick_approval_rate"] == 0.25  # one of four as-is approvals within 30 s
    assert (o["sla_met"], o["sla_missed"], o["sla_open"]) == (5, 2, 2)
    assert o["sla_attainment"] == round(5 / 7, 4)
    assert o["sent"] == len(smtp_sink.messages) == 5
    assert o["speed"]["card_to_decision"]["p50"] == 180.0  # minutes 2,5,30,3,0.17,20,1 -> 3
    assert o["speed"]["card_to_decision"]["n"] == 7
    assert {r["reason_code"]: r["count"] for r in run["rejections"]} == {"not_now": 1,
                                                                         "meeting_set": 1}
    assert run["recycling"]["recycled"] == 1 and run["recycling"]["returned"] == 1
    assert run["recycling"]["days_to_return_p50"] == pytest.approx(10, abs=0.1)
    assert run["meetings"]["from_disposition"] == 1
    assert run["meetings"]["booked_after_email"] == 1
    assert run["meetings"]["meetings_set"] == 2
    edits = run["edits"]
    assert edits["pairs"] == 1 and edits["words_changed"]["mean"] > 0
    assert {"before": "best", "after": "thanks so much", "pairs": 1} in edits["replaced"]
    example = edits["examples"][0]
    assert "‹first_name›" in example["sent"] and "Robin1" not in example["sent"]
    reps = run["breakdowns"]["rep"]
    assert sum(r["handoffs"] for r in reps) == 9
    assert all(r["name"] != r["key"] for r in reps)  # named from the roster
    assert [r["key"] for r in run["breakdowns"]["route"]] == ["hand_raise"]
    assert run["breakdowns"]["prompt_version"][0]["key"].startswith("offline-draft")
    assert run["breakdowns"]["policy_version"][0]["key"] == rt.policy.version
    weeks = run["breakdowns"]["week"]
    assert len(weeks) == 12 and sum(w["handoffs"] for w in weeks) == 9


def test_the_kpi_page_and_summary_read_well(rt: Any, seeded: dict[str, Any]) -> None:
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html, render_kpi_markdown

    run = build_kpi_report(rt, days=90)
    page = render_kpi_html(run)
    assert_self_contained(page)
    assert page.count("<svg") >= 6
    # Approval is always next to edit, and the 30-second approvals are called out.
    assert page.index("approved as-is") < page.index("edited") < page.index("escalated")
    assert "within 30 seconds" in page
    assert "Robin1" not in page.split('id="edits"')[1].split("</section>")[0]
    summary = render_kpi_markdown(run)
    assert summary.startswith("# Handoff report (last 90 days")
    assert "**SLA met 71%**" in summary and "**Approved as-is 57% · edited 14%**" in summary


def test_an_empty_store_gives_a_readable_empty_report(rt: Any) -> None:
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html, render_kpi_markdown

    run = build_kpi_report(rt, days=None)
    assert run["empty"] and run["overall"]["handoffs"] == 0
    assert run["overall"]["approve_as_is_rate"] is None
    assert run["edits"] == {"pairs": 0}
    page = render_kpi_html(run)
    assert_self_contained(page)
    assert "No handoffs in this window yet" in page
    assert "No handoffs in this window yet" in render_kpi_markdown(run)


def test_style_examples_return_a_reps_recent_edits_and_forget_erased_leads(
        rt: Any, client: Any, seeded: dict[str, Any]) -> None:
    from service.edit_pairs import style_examples, sync_edit_pairs

    rep = seeded["edit_rep"]
    found = style_examples(rt, rep, seeded["edited_draft"], k=3)
    assert len(found) == 1
    example = found[0]
    assert example.rep == rep and "Thanks so much," in example.sent_body
    # Stored and returned redacted: the rep's wording, none of the lead's details.
    # (Numbers too: the offline draft offers meeting times, "Monday 23 November at 10:00".)
    assert example.draft_body == re.sub(
        r"\d[\d:]*", "‹number›",
        seeded["edited_draft"].replace("Company1", "‹company›").replace("Max Smb", "‹rep›"))
    assert example.sent_subject == "Your demo, ‹first_name›"
    assert example.lead_id == seeded["leads"][1]
    for shown in example.as_prompt().values():
        assert "Robin1" not in shown and "Company1" not in shown
    assert set(example.as_prompt()) == {"draft_subject", "draft_body", "sent_subject",
                                        "sent_body"}
    other = next(m.key for m in rt.roster.reps() if m.key != rep)
    assert style_examples(rt, other, seeded["edited_draft"]) == []
    assert style_examples(rt, rep, seeded["edited_draft"], max_age_days=0) == []
    # Erasure: the pair goes with the lead.
    assert client.delete(f"/v1/leads/{seeded['leads'][1]}").status_code == 200
    # The store answers first (no edit left for this rep), then the mirror catches up.
    assert style_examples(rt, rep, seeded["edited_draft"]) == []
    # The erasure deleted the pair by its lead_id, or this sync does.
    assert sync_edit_pairs(rt)["pairs"] == 0
    assert rt.style_collection.count() == 0
    assert sync_edit_pairs(rt) == {"pairs": 0, "added_or_changed": 0, "removed": 0}


def test_support_kpis_from_the_support_service_are_mapped() -> None:
    from reports.kpi.sections import from_support_kpis

    raw = {"conversations": 10, "transfers": 4, "transfer_rate": 0.4,
           "transfer_rate_by_trigger": {"asked_for_human": {"transfers": 3, "rate": 0.3},
                                        "sensitive_topic": {"transfers": 1, "rate": 0.1}},
           "time_to_claim_s": {"claimed": 2, "median": 90.0, "p90": 300.0, "unclaimed": 1,
                               "escalated": 1},
           "human_preference": {"bot_could_answer": 1, "rate": 0.1},
           "resolution_after_transfer": {"ended": 2, "resolved": 1, "handed_back": 1,
                                         "open": 2, "rate": 0.5}}
    section = from_support_kpis(raw)
    assert section["available"] and section["claimed_rate"] == 0.5
    assert section["by_trigger"][0] == {"trigger": "asked_for_human", "transfers": 3,
                                        "share_of_conversations": 0.3}
    assert section["time_to_claim"] == {"p50": 90.0, "p90": 300.0, "n": 2}
    assert section["outcomes"] == {"resolved": 1, "handed_back": 1, "open": 2}
    assert from_support_kpis({"conversations": 0, "transfers": 0})["available"] is False


def test_the_report_reads_real_support_conversations(rt: Any) -> None:
    conversations = pytest.importorskip("service.conversations")
    pytest.importorskip("service.support_kpis")
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html

    customer = {"email": "sam@customer.io", "name": "Sam"}
    for conversation_id, text_ in (("c-human", "Can I talk to a real person please?"),
                                   ("c-howto", "How do I invite a teammate?")):
        conversations.post_message(rt, conversation_id, conversations.CustomerMessageIn(
            text=text_, customer=customer))
    run = build_kpi_report(rt)
    support = run["support"]
    assert support["available"], support
    assert support["conversations"] == 2 and support["transfers"] == 1
    assert support["by_trigger"][0]["trigger"] == "asked_for_human"
    page = render_kpi_html(run)
    assert_self_contained(page)
    assert "Transfers by trigger" in page
