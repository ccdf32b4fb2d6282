"""What a one-shot `hitl ingest` loads: the lead and handoff code it runs, not the code of job
kinds it never meets (issue 15: start-up is most of a small import's time; a real ingest in its
own process is checked by tests/cli/test_ingest_cli.py). The worker still knows every kind; a deferred handler imports its module when a job of its kind first runs (a
worker runs them for real in tests/service/test_sla_email.py, tests/api/test_hooks_hubspot.py
and tests/slack/test_assistant_retry.py)."""

from __future__ import annotations


def test_the_worker_still_names_every_job_kind() -> None:
    from service.assistant_execution import EXECUTE_JOB
    from service.crm_writeback import CRM_JOB_HANDLERS
    from service.support_jobs import SUPPORT_JOB_HANDLERS
    from service.worker import HANDLERS

    kinds = {"deliver_email", "process_lead", "run_handoff", "resume_handoff", "sla_check",
             "deliver_email_notice", "nurture_enrol", "no_response_check",
             "sync_style_examples", "erasure_cleanup", "crm_hubspot_deliveries", EXECUTE_JOB,
             *SUPPORT_JOB_HANDLERS, *CRM_JOB_HANDLERS}
    assert set(HANDLERS) == kinds
    assert all(callable(handler) for handler in HANDLERS.values())
