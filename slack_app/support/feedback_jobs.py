"""The Slack side of customer feedback notices (service/feedback_notices.py): a low rating's
follow-up for the support lead, a callback's reminder and escalation, posted once in the support
channel with a mention of the person (a DM when no support channel is set).

Customer text (name, comment, phone) is shown inert (slack_app/text.py): never a mention, link
or formatting.
"""

from __future__ import annotations

from typing import Any

from service import feedback_notices
from service.runtime import AppRuntime
from slack_app import message_log
from slack_app.text import code, inert, mention, slack_date
from slack_app.web import call, dm_channel, web_client


def feedback_text(about: dict[str, Any], to: str) -> str:
    """The support lead's notice of a low rating or a callback; customer text inert."""
    if about["kind"] == "csat":
        path = "bot only" if about["path"] == "bot_only" else \
            f"transferred ({inert(about['trigger'], 60)})"
        comment = f"\n> {inert(about['comment'], 500)}" if about["comment"] else ""
        return (f"{to} a customer rated their support conversation *{about['score']}/5*: "
                f"please follow up.\nCustomer: {inert(about['customer'], 120)} · {path} · "
                f"resolved by {inert(about['agent'], 120)} · "
                f"{code(about['conversation_id'])}{comment}")
    phone = f" · phone {inert(about['phone'], 32)}" if about["phone"] else ""
    if about["kind"] == "callback_scheduled":
        return (f"{to} a customer asked you to call them back {slack_date(about['due_at'])} "
                f"(you'll be reminded then): {inert(about['customer'], 120)}{phone} · "
                f"{code(about['conversation_id'])}")
    if about["kind"] == "callback_reminder":
        return (f"{to} time to call a customer back ({slack_date(about['due_at'])}): "
                f"{inert(about['customer'], 120)}{phone} · {code(about['conversation_id'])}")
    return (f"{to} a customer's callback is overdue ({slack_date(about['due_at'])}, owner "
            f"{inert(about['owner'], 120)}): {inert(about['customer'], 120)}{phone} · "
            f"{code(about['conversation_id'])}")


def post_feedback(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """`slack_support_feedback {notice_id, kind, subject_id, to}`: one post, at most once."""
    if feedback_notices.delivered(rt, payload["notice_id"]):
        return
    about = feedback_notices.facts(rt, payload)
    member = rt.roster.find(payload["to"])
    if about is None or member is None:
        return  # done meanwhile, or the person left the roster
    client = web_client(rt)
    to = mention(member.slack_id) or inert(member.name, 120)
    channel = rt.settings.slack_support_channel or dm_channel(rt, client, member.slack_id or "")
    # About the conversation: its customer's erasure finds this post and redacts it.
    with message_log.posting_about(rt, feedback_notices.SLACK_JOB, message_log.Subject(
            conversation_id=about["conversation_id"])):
        posted = call(client.chat_postMessage, channel=channel, text=feedback_text(about, to),
                      unfurl_links=False, unfurl_media=False)
    feedback_notices.mark_delivered(rt, payload, "slack", channel=channel,
                                    ts=str(posted.get("ts") or ""))


FEEDBACK_SLACK_JOB_HANDLERS = {feedback_notices.SLACK_JOB: post_feedback}
