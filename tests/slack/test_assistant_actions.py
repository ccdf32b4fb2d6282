"""Buttons on the assistant's answers: a proposal is decided only by a signed click of the rep
it was proposed to (routed to `decide_proposal`), and the answer then says who decided and
what happened; feedback clicks are recorded. Clicks are on disk before Slack's ack."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fake_slack import buttons, wait_until
from tests.slack.assistant_fakes import (
    DM,
    OTHER_REP,
    REP,
    FakeBrain,
    answer,
    click,
    dm_event,
    feedback_click,
    install_brain,
)


@pytest.fixture
def brain(monkeypatch: pytest.MonkeyPatch) -> FakeBrain:
    return install_brain(monkeypatch)


def _answered(slack: Any, fake_slack: Any, *, stream_error: str | None = None
              ) -> dict[str, Any]:
    fake_slack.stream_error = stream_error
    slack.event(dm_event(slack, "Snooze Acme until Monday"))
    return answer(fake_slack)


@pytest.mark.parametrize("stream_error", [None, "not_allowed"])
def test_approve_decides_the_proposal_and_updates_the_answer(  # type: ignore[no-untyped-def]
        slack, fake_slack, worker, brain: FakeBrain, stream_error: str | None) -> None:
    message = _answered(slack, fake_slack, stream_error=stream_error)
    assert click(slack, message, "Approve", REP).status_code == 200

    wait_until(lambda: fake_slack.calls("chat.update"))
    worker.run_until_idle()
    assert brain.decisions == [(REP, "p1", "approve")]
    updated = fake_slack.message(message["channel"], message["ts"])
    assert buttons(updated["blocks"]) == []
    [done] = [b for b in updated["blocks"] if b.get("block_id") == "asst_done_p1"]
    assert done["type"] == "context"
    assert done["elements"][0]["text"] == (
        f":white_check_mark: *Approved and done* by <@{REP}>: Snoozed until Monday.")
    # Everything else on the answer is as it was: the sources, the feedback buttons, the text.
    assert updated["text"] == message["text"]
    kept = [b for b in updated["blocks"] if b.get("block_id") != "asst_done_p1"]
    assert kept == [b for b in message["blocks"] if b.get("block_id") != "asst_act_p1"]


def test_reject_is_recorded_as_a_rejection(slack, fake_slack, worker,  # type: ignore[no-untyped-def]
                                           brain: FakeBrain) -> None:
    message = _answered(slack, fake_slack)
    click(slack, message, "Reject", REP)
    wait_until(lambda: fake_slack.calls("chat.update"))
    assert brain.decisions == [(REP, "p1", "reject")]
    updated = fake_slack.message(message["channel"], message["ts"])
    [done] = [b for b in updated["blocks"] if b.get("block_id") == "asst_done_p1"]
    assert done["elements"][0]["text"].startswith(f":x: *Rejected* by <@{REP}>")


def test_another_rep_cannot_decide_it(slack, fake_slack, worker,  # type: ignore[no-untyped-def]
                                      brain: FakeBrain) -> None:
    message = _answered(slack, fake_slack)
    click(slack, message, "Approve", OTHER_REP)
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    worker.run_until_idle()
    assert refusal.params["user"] == OTHER_REP
    assert "Nothing was changed" in refusal.params["text"]
    assert brain.decisions == []
    assert fake_slack.calls("chat.update") == []
    assert buttons(fake_slack.message(message["channel"], message["ts"])["blocks"]) == [
        "Approve", "Reject"]


def test_a_second_click_changes_nothing(slack, fake_slack, worker,  # type: ignore[no-untyped-def]
                                        brain: FakeBrain) -> None:
    message = _answered(slack, fake_slack)
    click(slack, message, "Approve", REP)
    click(slack, message, "Reject", REP)  # from the message as it was first shown
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    worker.run_until_idle()
    assert "already decided" in refusal.params["text"]
    assert brain.decisions == [(REP, "p1", "approve")]
    assert len(fake_slack.calls("chat.update")) == 1


def test_a_forged_click_is_refused_before_anything_happens(  # type: ignore[no-untyped-def]
        slack, fake_slack, worker, brain: FakeBrain) -> None:
    message = _answered(slack, fake_slack)
    response = click(slack, message, "Approve", REP, signature="v0=" + "0" * 64)
    assert response.status_code == 401
    worker.run_until_idle()
    assert brain.decisions == []
    assert fake_slack.calls("chat.update") == []


def test_a_tampered_button_value_is_not_a_decision(slack, fake_slack, worker,  # type: ignore[no-untyped-def]
                                                   brain: FakeBrain) -> None:
    message = _answered(slack, fake_slack)
    # An Approve button whose value says "reject" (or names nothing) is not ours.
    tampered = [dict(b) for b in message["blocks"]]
    for block in tampered:
        if block.get("block_id") == "asst_act_p1":
            block["elements"] = [{**block["elements"][0],
                                  "value": '{"proposal_id":"p1","decision":"reject"}'}]
    click(slack, {**message, "blocks": tampered}, "Approve", REP)
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    worker.run_until_idle()
    assert "not from a current answer" in refusal.params["text"]
    assert brain.decisions == []


@pytest.mark.parametrize("helpful", [True, False])
def test_feedback_is_recorded(slack, fake_slack, worker, brain: FakeBrain,  # type: ignore[no-untyped-def]
                              helpful: bool) -> None:
    message = _answered(slack, fake_slack)
    assert slack.interaction(feedback_click(message, REP, helpful)).status_code == 200
    wait_until(lambda: brain.feedback)
    assert brain.feedback == [(REP, "r1", helpful)]


def test_feedback_on_someone_elses_answer_records_nothing(  # type: ignore[no-untyped-def]
        slack, fake_slack, worker, brain: FakeBrain) -> None:
    message = _answered(slack, fake_slack)
    slack.interaction(feedback_click(message, OTHER_REP, True))
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    worker.run_until_idle()
    assert refusal.params["user"] == OTHER_REP and refusal.params["channel"] == DM
    assert brain.feedback == []


def test_a_proposal_about_a_lead_that_moved_says_so(  # type: ignore[no-untyped-def]
        slack, fake_slack, worker, brain: FakeBrain, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.assistant_runs import LEAD_MOVED
    from service.errors import Conflict

    def moved(*args: Any, **kwargs: Any) -> Any:
        raise Conflict(LEAD_MOVED)

    from service import assistant

    message = _answered(slack, fake_slack)
    monkeypatch.setattr(assistant, "decide_proposal", moved)
    click(slack, message, "Approve", REP)
    worker.run_until_idle()
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    assert refusal.params["text"] == LEAD_MOVED  # not "already decided"
