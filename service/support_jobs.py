"""The support surface's durable jobs, for `service.worker.Worker`.

- `support_escalate {transfer_id}`: the delayed timer a transfer queues
  (`run_at = opened + [support].claim_timeout_minutes`); unclaimed, it alerts the support lead
  and tells the customer honestly.
- `support_callback_due {callback_id, breach, due}`: a customer's callback timer
  (service/callbacks.py); `deliver_email_feedback`: a feedback notice by email
  (service/feedback_notices.py).
The Slack side effects (`support_post_card`, `support_update_card`, `support_relay`,
`support_escalate_slack`) are the Slack surface's jobs, registered with it (`hitl.wiring`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.runtime import AppRuntime

Handler = Callable[[AppRuntime, dict[str, Any]], None]


def _escalate(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.conversations import escalate_unclaimed

    escalate_unclaimed(rt, payload["transfer_id"])


def _callback_due(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.callbacks import check_callback

    check_callback(rt, payload)


def _feedback_email(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.feedback_notices import deliver_email

    deliver_email(rt, payload)


SUPPORT_JOB_HANDLERS: dict[str, Handler] = {
    "support_escalate": _escalate,
    # issue 19: a customer's callback timer, and feedback notices by email
    "support_callback_due": _callback_due,  # service/callbacks.py
    "deliver_email_feedback": _feedback_email,  # service/feedback_notices.py
}
