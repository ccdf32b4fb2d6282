"""Bench phase 6: concurrent signed Slack Approve clicks (ack time) beside concurrent API
decisions (the naive baseline: decide before answering), then exactly-once email: every
approved email arrives once, at the lead's own address."""

from __future__ import annotations

import json
import time

from bench.harness import SLACK_SECRET, Bench
from bench.report import percentile


def phase_slack(bench: Bench) -> None:
    from bench.burst import PreparedRequest, burst, burst_retrying_refusals
    from bench.slack_side import SlackSide, user_of_dm

    cfg = bench.config
    m = int(cfg.interactions or 0)
    approvals = bench.probe.approvals()
    pending = sorted(aid for aid, (_l, status, _a, _v) in approvals.items()
                     if status == "pending" and bench.slack.card(aid) is not None)
    clicks, decisions = pending[:m], pending[m:2 * m]
    sides = [SlackSide(c, SLACK_SECRET) for c in bench.clients]
    replicas = len(bench.servers)

    click_calls: list[PreparedRequest] = []
    for n, approval_id in enumerate(clicks):
        message = bench.slack.card(approval_id) or {}
        user = (user_of_dm(message["channel"]) if str(message.get("channel", "")).startswith(
            "D") else approvals[approval_id][2])
        side = sides[n % len(sides)]
        body, headers = side.signed(side.click_body(message, "Approve", user),
                                    "application/x-www-form-urlencoded")
        click_calls.append(PreparedRequest(bench.servers[n % replicas].url, "/slack/events",
                                           body, headers))
    decision_calls = [
        PreparedRequest(
            bench.servers[n % replicas].url, f"/v1/approvals/{aid}/decision",
            json.dumps({"action": "approve", "actor": approvals[aid][2]}).encode(),
            {"Content-Type": "application/json",
             "Authorization": f"Bearer {bench.servers[n % replicas].token}"})
        for n, aid in enumerate(decisions)]
    acks = burst(click_calls)
    # The clicks' decisions and emails finish first, so the naive burst runs on a quiet
    # server exactly as the clicks did.
    bench.wait_until("the clicked approvals to be decided", lambda: not [
        a for a, v in bench.probe.approvals().items() if a in clicks and v[1] == "pending"])
    bench.wait_drained()
    naive, refused = burst_retrying_refusals(decision_calls)
    bad = [s for _, s in acks + naive if s != 200]
    ack_ms = [ms for ms, _ in acks]
    naive_ms = [ms for ms, _ in naive]
    bench.report.add(
        "slack_ack_ms_p99", percentile(ack_ms, 99),
        f"{len(acks)} signed block_actions (Approve) POSTed to /slack/events at once (one "
        "connection each, opened beforehand; requests serialised beforehand and written back "
        "to back from one thread of a separate load-generator process), each by the card's "
        "assignee; p99 of the time from a request's first byte written to its full response",
        naive=percentile(naive_ms, 99) if naive_ms else None,
        naive_label=f"decide before answering: {len(naive)} concurrent API decisions "
                    f"({refused} refused 429 by the edge and retried after its Retry-After)")
    bench.report.check("interactions answered 200", not bad,
                       f"{len(acks)} clicks and {len(naive)} API decisions; non-200: {bad}")

    decided = set(clicks) | set(decisions)

    def all_sent() -> bool:
        now = bench.probe.approvals()
        if any(now[a][1] == "pending" for a in decided):
            return False
        return bench.probe.open_jobs() == 0 and bench.probe.outbox().get("sending", 0) == 0 \
            and bench.probe.outbox().get("pending", 0) == 0

    bench.wait_until("every approved email to be sent", all_sent)
    time.sleep(0.5)  # a duplicate would arrive now, if there were one
    final = bench.probe.approvals()
    approved = sum(1 for a in final.values() if a[1] in ("approved", "edited"))
    outbox = bench.probe.outbox()
    mails = bench.sink.messages
    ids = [str(m.message["Message-ID"]) for m in mails]
    bench.report.check(
        "exactly-once email", len(mails) == approved == outbox.get("sent", 0)
        and len(set(ids)) == len(ids),
        f"approvals approved {approved}, outbox sent {outbox.get('sent', 0)}, SMTP messages "
        f"received {len(mails)}, distinct Message-IDs {len(set(ids))}")
    emails = {lead_email for lead_email in bench.probe.lead_emails(decided)}
    strangers = [m.rcpt_tos for m in mails if not set(m.rcpt_tos) <= emails]
    bench.report.check("recipients are the leads' own addresses", not strangers,
                       f"{len(mails)} messages; to someone else: {strangers[:3]}")
    bench.report.details["slack"] = {
        "ack_ms_p50": round(percentile(ack_ms, 50), 1),
        "ack_ms_max": round(max(ack_ms), 1) if ack_ms else None,
        "naive_decide_ms_p50": round(percentile(naive_ms, 50), 1) if naive_ms else None,
        "emails": len(mails), "naive_refused_429": refused}

