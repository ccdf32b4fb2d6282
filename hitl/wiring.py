"""The composition root: a runtime with its surfaces' jobs registered.

The service layer never imports a surface. The Slack surface's durable jobs (cards, thread
posts, support transfer cards) are handed to the runtime here, so any worker built on it runs
them; the CLI, the demo, the worker process and the tests build runtimes through this door.
"""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from service.runtime import AppRuntime
from service.runtime import build_runtime as build_service_runtime


def build_runtime(settings: Settings, **overrides: Any) -> AppRuntime:
    """The service runtime for `settings`, plus the jobs of every surface that is switched on."""
    rt = build_service_runtime(settings, **overrides)
    if settings.slack_enabled:
        from slack_app.jobs import slack_job_handlers

        rt.job_handlers.update(slack_job_handlers())
        from slack_app.assistant.jobs import ASSISTANT_SLACK_JOB_HANDLERS

        rt.job_handlers.update(ASSISTANT_SLACK_JOB_HANDLERS)
        from slack_app.support.feedback_jobs import FEEDBACK_SLACK_JOB_HANDLERS

        rt.job_handlers.update(FEEDBACK_SLACK_JOB_HANDLERS)  # low ratings, callbacks
        from slack_app.recycle_notice import RECYCLE_SLACK_JOB_HANDLERS

        rt.job_handlers.update(RECYCLE_SLACK_JOB_HANDLERS)  # a no-response recycle's DM
    return rt
