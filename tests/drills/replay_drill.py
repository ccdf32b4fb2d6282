"""The replay drill (tests/drills/test_drills_replay.py with 100 deliveries in `make test`,
tests/drills/test_drill_replay_1000.py with 1,000 in `make drills`): one card's Approve click
and one thread reply delivered many times, concurrently; exactly one decision, one email and
one new version."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from slack_app.store import get_card
from store.tables import Approval, Decision, OutboxMessage
from tests.conftest import hand_raise
from tests.fake_slack import card_message, wait_until
from tests.flow import ingest

OTHER = {"email": "grace@replay-drill.io", "first_name": "Grace", "last_name": "Lin",
         "company": "Replay Drill", "title": "VP Operations", "domain": "replay-drill.io",
         "country": "US", "employees": 850, "industry": "Software",
         "timezone": "America/New_York"}


async def _running_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


async def _finish_tasks_started_since(before: set[asyncio.Task[Any]]) -> None:
    """Wait for every task the app's loop started since `before` (and the tasks those start)."""
    while new := await _running_tasks() - before:
        _, pending = await asyncio.wait(new, timeout=30)
        assert not pending, f"still running after 30 s: {[t.get_coro() for t in pending]}"


def run_replay_drill(client: Any, worker: Any, rt: Any, fake_slack: Any, slack: Any,
                     smtp_sink: Any, deliveries: int) -> dict[str, Any]:
    ingest(client, hand_raise("a") + hand_raise("b", lead=OTHER))
    worker.run_until_idle()
    cards = {c["draft"]["to"]: c for c in client.get("/v1/approvals").json()}
    approve_card, revise_card = cards["ada@acme.io"], cards[OTHER["email"]]
    message = card_message(rt, fake_slack, approve_card["approval_id"])
    location = get_card(rt, revise_card["approval_id"])
    assert location is not None

    clicks = deliveries * 6 // 10
    replies = deliveries - clicks
    # One signed body replayed as is (a proxy or Slack retry), and fresh double clicks.
    body = slack.click_body(message, "Approve", "U0REP0001") if hasattr(
        slack, "click_body") else None
    # The assignee's reply in the card's thread (routing decides who that is).
    reply = slack.reply_event(location.channel, location.thread_ts, revise_card["assignee"],
                              "Make it shorter and mention the webinar")
    event_id = "EvREPLAYDRILL1"

    def deliver(n: int) -> int:
        if n < clicks:
            if body is not None and n % 3 == 0:
                return int(slack.post(body, "application/x-www-form-urlencoded").status_code)
            user = "U0MGR0001" if n % 5 == 0 else "U0REP0001"
            return int(slack.click(message, "Approve", user).status_code)
        retry = {"X-Slack-Retry-Num": str(n % 3 + 1), "X-Slack-Retry-Reason": "http_timeout"} \
            if n % 2 else None
        return int(slack.event(reply, event_id=event_id, headers=retry).status_code)

    before = client.portal.call(_running_tasks)
    started = time.monotonic()
    order = [n for pair in zip(range(clicks), range(clicks, deliveries), strict=False)
             for n in pair] + list(range(min(clicks, replies) * 2, deliveries))
    order = list(dict.fromkeys(order + list(range(deliveries))))
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(deliver, order))
    elapsed = time.monotonic() - started
    assert statuses == [200] * deliveries, sorted(set(statuses))

    wait_until(lambda: client.get(f"/v1/approvals/{approve_card['approval_id']}").json()[
        "status"] == "approved", timeout=30)
    wait_until(lambda: client.get(f"/v1/approvals/{revise_card['approval_id']}").json()[
        "status"] == "revised", timeout=30)
    # Bolt answers Slack at ack() and runs the rest of a listener as a task on the app's event
    # loop: the deliveries answered last may still be working. Wait for those tasks themselves.
    client.portal.call(_finish_tasks_started_since, before)
    worker.run_until_idle()
    worker.run_until_idle()

    with rt.db.session() as s:
        decisions = s.scalar(select(func.count()).select_from(Decision))
        outbox = s.scalar(select(func.count()).select_from(OutboxMessage))
        versions = s.scalars(select(Approval.version).where(
            Approval.handoff_id == revise_card["handoff_id"]).order_by(Approval.version)).all()
    assert decisions == 2, "one approve and one revise, whatever was replayed"
    assert outbox == 1
    assert list(versions) == [1, 2], "one revision, not one per delivery"
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["ada@acme.io"]]
    refusals = fake_slack.calls("chat.postEphemeral")
    return {"deliveries": deliveries, "seconds": round(elapsed, 2), "refusals": len(refusals),
            "emails": len(smtp_sink.messages),
            "decision": json.dumps({"decisions": decisions, "versions": list(versions)})}
