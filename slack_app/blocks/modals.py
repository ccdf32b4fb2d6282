"""The decision modals (edit and send, reject, escalate). Pure; the draft is prefilled as
`plain_text_input` values, which Slack never parses."""

from __future__ import annotations

import json
from typing import Any

from agent.policy import REASON_CODES
from slack_app.blocks.card import REASON_LABELS
from slack_app.text import context, inert, plain, plain_text, split_text

INPUT_LIMIT = 3000
SUBJECT_LIMIT = 300  # what DecisionIn accepts

VIEW_EDIT = "approval_edit_modal"
VIEW_REJECT = "approval_reject_modal"
VIEW_ESCALATE = "approval_escalate_modal"


def modal_metadata(approval_id: str, version: int, channel: str | None,
                   thread_ts: str | None = None, **extra: Any) -> str:
    meta = {"approval_id": approval_id, "version": version, "channel": channel,
            "thread_ts": thread_ts, **extra}
    return json.dumps(meta, separators=(",", ":"))


def _modal(callback_id: str, title: str, submit: str, metadata: str,
           blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "modal", "callback_id": callback_id, "title": plain_text(title, 24),
            "submit": plain_text(submit, 24), "close": plain_text("Cancel", 24),
            "private_metadata": metadata, "blocks": blocks}


def edit_modal(approval: dict[str, Any], channel: str | None,
               thread_ts: str | None = None) -> dict[str, Any]:
    """Subject and body prefilled; a body longer than one input is split across several inputs
    at paragraph boundaries and joined back exactly on submission. Invisible characters are
    left out of the prefilled text, so they are not sent either."""
    draft = approval.get("draft") or {}
    subject = plain(draft.get("subject"))[:SUBJECT_LIMIT]
    chunks, joiners = split_text(plain(draft.get("body")), INPUT_LIMIT)
    blocks: list[dict[str, Any]] = [
        context(f"Version {approval['version']} to {inert(draft.get('to') or 'the lead')}."
                " Submitting sends this text once, as you leave it."),
        {"type": "input", "block_id": "subject", "label": plain_text("Subject"),
         "element": {"type": "plain_text_input", "action_id": "subject",
                     "initial_value": subject, "max_length": SUBJECT_LIMIT}},
    ]
    for index, chunk in enumerate(chunks):
        label = "Body" if len(chunks) == 1 else f"Body (part {index + 1} of {len(chunks)})"
        blocks.append({"type": "input", "block_id": f"body_{index}", "label": plain_text(label),
                       "element": {"type": "plain_text_input", "action_id": "body",
                                   "multiline": True, "initial_value": chunk,
                                   "max_length": INPUT_LIMIT}})
    meta = modal_metadata(approval["approval_id"], approval["version"], channel, thread_ts,
                          parts=len(chunks), joiners=joiners)
    return _modal(VIEW_EDIT, "Edit and send", "Send", meta, blocks)


def reject_modal(approval: dict[str, Any], channel: str | None,
                 thread_ts: str | None = None) -> dict[str, Any]:
    options = [{"text": plain_text(REASON_LABELS.get(reason, reason)), "value": reason}
               for reason in REASON_CODES]
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "reason", "label": plain_text("Reason"),
         "element": {"type": "static_select", "action_id": "reason_code",
                     "placeholder": plain_text("Why is this lead not being contacted?"),
                     "options": options}},
        {"type": "input", "block_id": "note", "optional": True, "label": plain_text("Note"),
         "element": {"type": "plain_text_input", "action_id": "note", "multiline": True,
                     "max_length": 2000}},
    ]
    meta = modal_metadata(approval["approval_id"], approval["version"], channel, thread_ts)
    return _modal(VIEW_REJECT, "Reject and recycle", "Reject", meta, blocks)


def escalate_modal(approval: dict[str, Any], channel: str | None,
                   thread_ts: str | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "target", "optional": True,
         "label": plain_text("Escalate to"),
         "hint": plain_text("Leave empty to hand it to a manager from the roster.", 150),
         "element": {"type": "users_select", "action_id": "escalate_to",
                     "placeholder": plain_text("A manager from the roster")}},
        {"type": "input", "block_id": "note", "optional": True, "label": plain_text("Note"),
         "element": {"type": "plain_text_input", "action_id": "note", "multiline": True,
                     "max_length": 2000}},
    ]
    meta = modal_metadata(approval["approval_id"], approval["version"], channel, thread_ts)
    return _modal(VIEW_ESCALATE, "Escalate", "Escalate", meta, blocks)
