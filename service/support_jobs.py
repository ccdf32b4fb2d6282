"""The support surface's durable jobs, for `service.worker.Worker`.

- `support_escalate {transfer_id}`: the delayed timer a transfer queues
  (`run_at = opened + [support].claim_timeout_minutes`); unclaimed, it alerts the support lead
  and tells the customer honestly.
- `support_post_card`, `support_update_card`, `support_relay`, `support_escalate_slack`: the
  Slack side effects (`slack_app.support`), queued only when Slack is on. They are imported on
  first run, so registering them costs nothing when Slack is off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.runtime import AppRuntime

Handler = Callable[[AppRuntime, dict[str, Any]], None]


def _escalate(rt: AppRuntime, payload: dict[str, Any]) -> None:
    from service.conversations import escalate_unclaimed

    escalate_unclaimed(rt, payload["transfer_id"])


def _slack(kind: str) -> Handler:
    def run(rt: AppRuntime, payload: dict[str, Any]) -> None:
        from slack_app.jobs import logged
        from slack_app.support import SUPPORT_SLACK_JOB_HANDLERS

        # Logged: every message posted about the customer can be found again for erasure.
        logged(kind, SUPPORT_SLACK_JOB_HANDLERS[kind])(rt, payload)

    run.__name__ = kind
    return run


SUPPORT_JOB_HANDLERS: dict[str, Handler] = {
    "support_escalate": _escalate,
    **{kind: _slack(kind) for kind in ("support_post_card", "support_update_card",
                                       "support_relay", "support_escalate_slack")},
}
