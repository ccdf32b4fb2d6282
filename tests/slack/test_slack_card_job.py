"""The approval-card job (`slack_post_approval`) on its Core read and write: the card it posts
is the card the store renders, the message log and the card's row are written for every post,
a rerun posts nothing, and a card another worker recorded first is the one kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from service.approvals import list_approvals
from slack_app import store
from slack_app.cards import load_approval, render
from slack_app.jobs import POST_APPROVAL, SLACK_JOB_HANDLERS
from store.tables import SlackMessageLog
from tests.conftest import hand_raise
from tests.fake_slack import all_text
from tests.flow import decide, ingest, pending_card


def _posted(fake_slack: Any) -> list[dict[str, Any]]:
    return [call.params for call in fake_slack.calls("chat.postMessage")]


def _logged(rt: Any) -> dict[tuple[str, str], str | None]:
    with rt.db.read() as session:
        rows = session.execute(select(SlackMessageLog.channel, SlackMessageLog.ts,
                                      SlackMessageLog.lead_id)).all()
    return {(row.channel, row.ts): row.lead_id for row in rows}


def _as_sent(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return json.loads(json.dumps(blocks))  # what Slack receives (the fake decodes the JSON)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_the_posted_card_is_the_stored_card_logged_and_recorded(  # type: ignore[no-untyped-def]
        client, worker, rt, fake_slack) -> None:
    card = pending_card(client, worker)
    [posted] = _posted(fake_slack)
    text, blocks = render(rt, load_approval(rt, card["approval_id"]))  # a read of its own
    assert (posted["text"], posted["blocks"]) == (text, _as_sent(blocks))
    assert posted["unfurl_links"] is False and posted["unfurl_media"] is False
    location = store.get_card(rt, card["approval_id"])
    assert location is not None and location.history_posted and location.is_root
    assert (location.version, location.lead_id) == (1, card["lead_id"])
    # Erasure finds the card through the log: the post is logged against its lead.
    assert _logged(rt) == {(location.channel, location.ts): card["lead_id"]}


def test_a_rerun_of_the_card_job_posts_nothing(client, worker, rt, fake_slack) -> None:  # type: ignore[no-untyped-def]
    card = pending_card(client, worker)
    before = (len(_posted(fake_slack)), _logged(rt), store.get_card(rt, card["approval_id"]))
    SLACK_JOB_HANDLERS[POST_APPROVAL](rt, {"approval_id": card["approval_id"]})
    assert (len(_posted(fake_slack)), _logged(rt),
            store.get_card(rt, card["approval_id"])) == before


def test_a_card_rejected_before_it_went_out_is_posted_with_the_decision(  # type: ignore[no-untyped-def]
        client, worker, rt, clock, fake_slack) -> None:
    fake_slack.fail_next("conversations.open", status=500)  # the first try cannot post
    ingest(client, hand_raise())
    worker.run_until_idle()
    [approval] = list_approvals(rt)
    assert decide(client, approval["approval_id"], action="reject", actor="U0MGR0001",
                  reason_code="not_icp", note="Outside our segments").status_code == 200
    clock.advance(minutes=1)
    worker.run_until_idle()
    [posted] = _posted(fake_slack)
    decided = load_approval(rt, approval["approval_id"])
    text, blocks = render(rt, decided)  # the decision read by card_facts itself
    assert (posted["text"], posted["blocks"]) == (text, _as_sent(blocks))
    shown = all_text(posted["blocks"])  # the decision's payload, not only the approval's
    assert "Not a fit (not ICP)" in shown and "Outside our segments" in shown


def test_a_card_recorded_by_another_worker_first_is_kept(client, worker, rt, fake_slack  # type: ignore[no-untyped-def]
                                                         ) -> None:
    card = pending_card(client, worker)
    theirs = store.get_card(rt, card["approval_id"])
    assert theirs is not None
    ours = store.CardLocation(theirs.approval_id, theirs.handoff_id, theirs.lead_id,
                              theirs.version, theirs.assignee, "C0OTHER01", "99.000001",
                              "99.000001", False)
    with rt.db.transaction() as connection:
        saved, status = store.save_card_on(connection, ours, now=rt.clock.now())
    assert (saved, status) == (theirs, "pending")
    assert store.get_card(rt, card["approval_id"]) == theirs


def test_a_card_that_changed_while_its_update_was_in_flight_is_sent_again(  # type: ignore[no-untyped-def]
        client, worker, rt, fake_slack, monkeypatch) -> None:
    """Two updates of one card at once (the decision's, the newer version's) may reach Slack in
    the other order; Slack keeps the last. Here a decision is recorded after an update was
    rendered and before its chat.update lands: the update sends the card again."""
    import slack_app.jobs as slack_jobs
    from tests.fake_slack import buttons, card_message

    card = pending_card(client, worker)
    real_call, raced = slack_jobs.call, []

    def racing_call(method: Any, **kwargs: Any) -> Any:
        if method.__name__ == "chat_update" and not raced:
            raced.append(kwargs["text"])
            assert decide(client, card["approval_id"], action="approve",
                          actor="U0REP0001").status_code == 200
        return real_call(method, **kwargs)

    monkeypatch.setattr(slack_jobs, "call", racing_call)
    slack_jobs.update_card(rt, {"approval_id": card["approval_id"]})
    assert raced  # the first render went out as the pending card, after the decision
    shown = card_message(rt, fake_slack, card["approval_id"])
    assert "*Approved* by <@U0REP0001>" in all_text(shown["blocks"])
    assert buttons(shown["blocks"]) == []
    assert len(fake_slack.calls("chat.update")) == 2  # and no more: the third render matched
