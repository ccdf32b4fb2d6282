"""The assistant's durable jobs (sync, on the worker's threads), queued by the listeners before
Slack gets its answer, so a message or click Slack saw accepted is never lost.

- `slack_assistant_ask {channel, thread_ts, ts, user, team, text}`: the "thinking" status,
  then who the Slack user is on the roster (strangers get a polite refusal and nothing else),
  then `service.assistant.ask`; the answer is handed to the next job. Two jobs, so a Slack
  outage while posting retries the post, not the question (a model call and new proposals).
- `slack_assistant_reply {channel, thread_ts, user, team, reply}`: stream the answer
  (`chat.startStream` / `appendStream` / `stopStream`, citations, proposals and feedback
  buttons at the end); where Slack does not stream (`unknown_method`, `not_allowed`, ...),
  one `chat.postMessage` with the same content. A retry deletes the stream an earlier attempt
  left unfinished before it streams again.
- `slack_assistant_decide {proposal_id, decision, user, channel, ts, thread_ts, blocks, text}`:
  `service.assistant.decide_proposal` as the roster member who clicked; the answer is updated
  in place (the buttons become who decided and what happened); a refusal is an ephemeral.
- `slack_assistant_feedback {reply_id, helpful, user, channel, thread_ts}`:
  `service.assistant.record_feedback`.
- `slack_assistant_outcome {proposal_id, lead_id, reply, user, channel, ts, thread_ts, blocks,
  text}`: an approved proposal whose execution is retried in the background
  (service/assistant_execution.py) reports each retry here: the answer is updated in place
  the way a click updates it (retrying, failed with how to retry it, or done).
- `slack_assistant_apology {channel, thread_ts, job_id}`: an ask job that failed until its
  retry budget was spent (parked) queues this as it fails the last time: a short apology in
  the thread naming the parked job, and the "thinking" status cleared. Once per parking.

Every message about leads is logged for erasure (`slack_app.message_log`) against the first
lead the answer cites or names; erasing any lead a conversation named redacts the answers in
that DM thread (service/erasure_assistant.py).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from agent.policy import Member
from service import assistant
from service.assistant_models import AssistantReply
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.jobs import RetryLater, enqueue, retry_budget
from service.runtime import AppRuntime
from slack_app import message_log
from slack_app.assistant.blocks import (
    LOADING_MESSAGES,
    REFUSAL,
    STATUS_THINKING,
    answer_blocks,
    decided_blocks,
    fallback_text,
    markdown_inert,
    stream_chunks,
    trailer_blocks,
)
from slack_app.decisions import actor_for_slack_user
from slack_app.text import inert
from slack_app.web import GONE_ERRORS, SlackCallFailed, call, web_client
from store.tables import Job, SlackEventReceipt

log = logging.getLogger(__name__)

ASK_JOB = "slack_assistant_ask"
REPLY_JOB = "slack_assistant_reply"
DECIDE_JOB = "slack_assistant_decide"
FEEDBACK_JOB = "slack_assistant_feedback"
OUTCOME_JOB = "slack_assistant_outcome"
APOLOGY_JOB = "slack_assistant_apology"
APOLOGY = ("I couldn't answer that just now — it's been logged as job {job_id}; try again or "
           "ask a teammate.")

# Slack's answers to a stream method where streaming is not available (an older workspace or
# plan, a channel type without it): the answer is posted whole instead.
STREAM_UNAVAILABLE = frozenset({"unknown_method", "not_allowed", "not_allowed_token_type",
                                "method_not_supported_for_channel_type",
                                "feature_not_enabled"})


# -- queueing (called by the listeners, in a thread, before the ack) -----------------------------

def queue_job(rt: AppRuntime, kind: str, payload: dict[str, Any], *,
              receipts: list[str] | None = None) -> bool:
    """Put a job on disk. With `receipts` (the delivery's keys), only the first delivery of a
    message queues it: a retried or duplicated event finds its receipt and queues nothing.
    Returns whether a job was queued."""
    now = rt.clock.now()
    try:
        with rt.db.session() as session:
            if receipts:
                seen = session.scalar(select(SlackEventReceipt.event_key).where(
                    SlackEventReceipt.event_key.in_(receipts)).limit(1))
                if seen is not None:
                    return False
                session.add_all([SlackEventReceipt(event_key=k, received_at=now)
                                 for k in receipts])
            enqueue(session, kind, payload, now=now)
    except IntegrityError:  # a concurrent delivery of the same message won the receipt
        return False
    rt.notify_work()
    return True


# -- shared steps --------------------------------------------------------------------------------

def member_for(rt: AppRuntime, slack_user: str) -> Member | None:
    """The roster member a Slack user is (`Roster.for_slack_user`, by Slack id or, for members
    listed without one, by the email on their Slack profile), or None."""
    return rt.roster.find(actor_for_slack_user(rt, slack_user))


def _set_status(client: WebClient, channel: str, thread_ts: str, status: str) -> None:
    """The assistant thread's status line. Cosmetic: a failure is logged, never retried."""
    try:
        call(client.assistant_threads_setStatus, channel_id=channel, thread_ts=thread_ts,
             status=status, loading_messages=list(LOADING_MESSAGES) if status else None)
    except (RetryLater, SlackCallFailed) as exc:
        log.info("assistant.threads.setStatus in %s failed: %s", channel, exc)


def _say(client: WebClient, payload: dict[str, Any], text: str) -> None:
    """Our own words (a refusal, an apology) as a reply in the conversation's thread."""
    call(client.chat_postMessage, channel=payload["channel"], thread_ts=payload["thread_ts"],
         text=inert(text), unfurl_links=False, unfurl_media=False)


def _tell(client: WebClient, payload: dict[str, Any], text: str) -> None:
    """A message only the clicker sees. Best effort: it informs, it never carries a decision."""
    try:
        call(client.chat_postEphemeral, channel=payload["channel"], user=payload["user"],
             text=text, thread_ts=payload.get("thread_ts"))
    except (RetryLater, SlackCallFailed) as exc:
        log.warning("chat.postEphemeral to %s failed: %s", payload.get("user"), exc)


def _subject(reply: AssistantReply) -> dict[str, Any]:
    """What the message log files an answer under: the first lead it cites, or else names
    (an erasure of any lead a conversation named redacts all its answers, by their thread)."""
    lead_ids = [c.lead_id for c in reply.citations] + reply.mentions
    return {"lead_id": lead_ids[0]} if lead_ids else {}


# -- the jobs ------------------------------------------------------------------------------------

def ask_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    try:
        _ask(rt, payload)
    except Exception:
        try:
            _apologise_if_parked(rt, payload)
        except Exception:  # the failure itself is what the worker records
            log.exception("assistant ask in %s: the apology could not be queued",
                          payload.get("channel"))
        raise  # retried, or parked, by the worker


def _ask(rt: AppRuntime, payload: dict[str, Any]) -> None:
    client = web_client(rt)
    channel, thread_ts = payload["channel"], payload["thread_ts"]
    _set_status(client, channel, thread_ts, STATUS_THINKING)
    member = member_for(rt, payload["user"])
    if member is None:
        _say(client, payload, REFUSAL)
        return
    try:
        # Keyed by the message: a retry after a crash before the answer was handed on gets the
        # same answer back, not a second one with new proposals.
        reply = assistant.ask(rt, member, f"{channel}:{thread_ts}", payload["text"],
                              message_key=f"{channel}:{payload.get('ts') or thread_ts}")
    except Forbidden:
        _say(client, payload, REFUSAL)
        return
    except InvalidInput as exc:  # the service's messages are written for people
        _say(client, payload, f"Sorry, I could not take that: {exc.message}")
        return
    except Conflict as exc:  # an earlier message of this conversation is still being answered
        raise RetryLater(exc.message, retry_after=2) from exc
    queue_job(rt, REPLY_JOB, {"channel": channel, "thread_ts": thread_ts,
                              "user": payload["user"], "team": payload.get("team"),
                              "reply": reply.model_dump(mode="json")})


def _apologise_if_parked(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """When this failure spends the ask job's retry budget (the worker parks it after the
    raise), queue the apology: the rep is not left with a "thinking" status and no answer.
    As an approved proposal's job tells the rep it was parked (service/assistant_execution.py):
    the failing job sees its own budget run out, and a surface job carries the news."""
    job = _running_ask(rt, payload)
    if job is None:
        return
    now = rt.clock.now()
    if now < (job.failing_since or now) + retry_budget(rt.settings, ASK_JOB):
        return  # retried: the status still says the assistant is working on it
    with rt.db.session() as session:
        enqueue(session, APOLOGY_JOB, {"channel": payload["channel"],
                                       "thread_ts": payload["thread_ts"], "job_id": job.id},
                now=now, dedupe_key=f"{APOLOGY_JOB}:{job.id}")
    rt.notify_work()


def _running_ask(rt: AppRuntime, payload: dict[str, Any]) -> Job | None:
    """This message's ask job: leased to this worker now (few asks run at once, so they are
    matched here rather than in JSON SQL)."""
    with rt.db.read() as session:
        rows = session.scalars(select(Job).where(Job.kind == ASK_JOB, Job.failed_at.is_(None),
                                                 Job.locked_until.is_not(None))).all()
        job = next((j for j in rows if all((j.payload or {}).get(k) == payload.get(k)
                                           for k in ("channel", "ts", "user"))), None)
        if job is not None:
            session.expunge(job)
        return job


def apology_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`slack_assistant_apology {channel, thread_ts, job_id}`: the ask was parked; say so in
    the thread (no error text: that is in the job's `last_error`) and clear the status."""
    client = web_client(rt)
    _say(client, payload, APOLOGY.format(job_id=int(payload["job_id"])))
    _set_status(client, payload["channel"], payload["thread_ts"], "")


def reply_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    reply = AssistantReply.model_validate(payload["reply"])
    client = web_client(rt)
    _drop_earlier_stream(rt, client, reply.reply_id)
    with message_log.posting_for(rt, REPLY_JOB, _subject(reply)):
        if not _stream(rt, client, payload, reply):
            call(client.chat_postMessage, channel=payload["channel"],
                 thread_ts=payload["thread_ts"], text=fallback_text(reply),
                 blocks=answer_blocks(reply), unfurl_links=False, unfurl_media=False)


_STREAM_KEY = "assistant_stream:"


def _drop_earlier_stream(rt: AppRuntime, client: WebClient, reply_id: str) -> None:
    """A retry of this job (Slack failed mid-stream, or the worker died) first deletes the
    stream an earlier attempt started, so the rep sees one answer, not a cut one and a whole
    one. Where it was is kept as a receipt (`assistant_stream:{reply}:{channel}:{ts}`)."""
    prefix = f"{_STREAM_KEY}{reply_id}:"
    with rt.db.read() as session:
        keys = list(session.scalars(select(SlackEventReceipt.event_key).where(
            SlackEventReceipt.event_key.startswith(prefix, autoescape=True))))
    for key in keys:
        channel, ts = key.removeprefix(prefix).split(":", 1)
        try:
            call(client.chat_delete, channel=channel, ts=ts)
        except SlackCallFailed as exc:
            if exc.error not in GONE_ERRORS:
                raise
        with rt.db.session() as session:
            session.execute(delete(SlackEventReceipt).where(SlackEventReceipt.event_key == key))


def _remember_stream(rt: AppRuntime, reply_id: str, channel: str, ts: str) -> None:
    with rt.db.session() as session:
        session.add(SlackEventReceipt(event_key=f"{_STREAM_KEY}{reply_id}:{channel}:{ts}",
                                      received_at=rt.clock.now()))


def _stream(rt: AppRuntime, client: WebClient, payload: dict[str, Any],
            reply: AssistantReply) -> bool:
    """Stream the answer; False when Slack does not stream here (nothing was posted then)."""
    channel = payload["channel"]
    chunks = stream_chunks(markdown_inert(reply.text)) or [""]
    try:
        started = call(client.chat_startStream, channel=channel,
                       thread_ts=payload["thread_ts"], markdown_text=chunks[0],
                       recipient_user_id=payload.get("user"),
                       recipient_team_id=payload.get("team"))
    except SlackCallFailed as exc:
        if exc.error in STREAM_UNAVAILABLE:
            log.info("chat.startStream unavailable (%s); posting the answer whole", exc.error)
            return False
        raise
    ts = str(started["ts"])
    channel = str(started.get("channel") or channel)
    _remember_stream(rt, reply.reply_id, channel, ts)
    context = message_log.current_context()
    if context is not None:  # `call` logs chat.postMessage only; a stream is a post too
        message_log.record_post(context, channel=channel, ts=ts,
                                thread_ts=payload["thread_ts"])
    for chunk in chunks[1:]:
        call(client.chat_appendStream, channel=channel, ts=ts, markdown_text=chunk)
    call(client.chat_stopStream, channel=channel, ts=ts, blocks=trailer_blocks(reply))
    return True


def decide_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    client = web_client(rt)
    member = member_for(rt, payload["user"])
    if member is None:
        _tell(client, payload, "Only the person this was proposed to can decide it. "
                               "Nothing was changed.")
        return
    try:
        outcome = assistant.decide_proposal(
            rt, member, payload["proposal_id"], payload["decision"],
            notify={"job": OUTCOME_JOB, **{k: payload.get(k) for k in (
                "user", "channel", "ts", "thread_ts", "blocks", "text")}})
    except NotFound:
        _tell(client, payload, "This proposal is not one you can decide (or it no longer "
                               "exists). Nothing was changed.")
        return
    except Conflict as exc:  # decided already, or the lead moved to someone else since
        from service.assistant_runs import LEAD_MOVED

        _tell(client, payload, LEAD_MOVED if exc.message == LEAD_MOVED
              else "This proposal was already decided. Nothing was changed.")
        return
    except InvalidInput as exc:
        _tell(client, payload, f"That could not be recorded: {inert(exc.message, 500)}")
        return
    blocks = decided_blocks(list(payload.get("blocks") or []), payload["proposal_id"],
                            payload["decision"], payload["user"], outcome)
    with message_log.posting_for(rt, DECIDE_JOB, _subject(outcome)):
        try:
            call(client.chat_update, channel=payload["channel"], ts=payload["ts"],
                 text=payload.get("text") or fallback_text(outcome), blocks=blocks)
        except SlackCallFailed as exc:
            if exc.error not in GONE_ERRORS:
                raise
            log.warning("assistant answer %s cannot be updated (%s)", payload["ts"], exc.error)
        # What the decision led to, if it proposes more, is a new answer in the thread.
        if any(p.status == "pending" and p.proposal_id != payload["proposal_id"]
               for p in outcome.proposals):
            call(client.chat_postMessage, channel=payload["channel"],
                 thread_ts=payload.get("thread_ts") or payload["ts"],
                 text=fallback_text(outcome), blocks=answer_blocks(outcome),
                 unfurl_links=False, unfurl_media=False)


def outcome_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """The answer updated with what a background retry of its approved proposal came to."""
    outcome = AssistantReply.model_validate(payload["reply"])
    blocks = decided_blocks(list(payload.get("blocks") or []), payload["proposal_id"],
                            "approve", payload["user"], outcome)
    with message_log.posting_for(rt, OUTCOME_JOB, {"lead_id": payload.get("lead_id")}):
        try:
            call(web_client(rt).chat_update, channel=payload["channel"], ts=payload["ts"],
                 text=payload.get("text") or fallback_text(outcome), blocks=blocks)
        except SlackCallFailed as exc:
            if exc.error not in GONE_ERRORS:
                raise
            log.warning("assistant answer %s cannot be updated (%s)", payload["ts"], exc.error)


def feedback_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    client = web_client(rt)
    member = member_for(rt, payload["user"])
    if member is None:
        _tell(client, payload, REFUSAL)
        return
    try:
        assistant.record_feedback(rt, member, payload["reply_id"], bool(payload["helpful"]))
    except NotFound:
        _tell(client, payload, "That answer was not given to you; nothing was recorded.")


ASSISTANT_SLACK_JOB_HANDLERS = {
    ASK_JOB: ask_job,
    REPLY_JOB: reply_job,
    DECIDE_JOB: decide_job,
    FEEDBACK_JOB: feedback_job,
    OUTCOME_JOB: outcome_job,
    APOLOGY_JOB: apology_job,
}

__all__ = ["APOLOGY_JOB", "ASK_JOB", "ASSISTANT_SLACK_JOB_HANDLERS", "DECIDE_JOB", "FEEDBACK_JOB",
           "OUTCOME_JOB", "REPLY_JOB", "queue_job"]
