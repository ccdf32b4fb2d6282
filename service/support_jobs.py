"""The support surface's durable jobs, for `service.worker.Worker`.

- `support_escalate {transfer_id}`: the delayed timer a transfer queues
  (`run_at = opened + [support].claim_timeout_minutes`); unclaimed, it alerts the support lead
  and tells the customer honestly.
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


SUPPORT_JOB_HANDLERS: dict[str, Handler] = {
    "support_escalate": _escalate,
}
