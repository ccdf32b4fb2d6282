"""What a one-shot `hitl ingest` loads: the lead and handoff code it runs, not the code of job
kinds it never meets (issue 15: start-up is most of a small import's time). The worker still
knows every kind; a deferred handler imports its module when a job of its kind first runs (a
worker runs them for real in tests/service/test_sla_email.py, tests/api/test_hooks_hubspot.py
and tests/slack/test_assistant_retry.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import hand_raise, recent

# Job code a lead's processing never calls: the SLA rescue and its email notices, erasure, the
# assistant's approved actions, HubSpot's webhook deliveries.
DEFERRED = ("service.rescue", "service.notices", "service.erasure_cleanup",
            "service.assistant_execution", "service.crm_inbound")


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


@pytest.mark.slow
def test_a_real_ingest_loads_no_code_of_jobs_it_never_runs(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in hand_raise(at=recent(minutes=1))),
                    encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITL_", "SLACK_", "OPENAI_"))}
    env.update(HITL_DATABASE_URL=f"sqlite:///{tmp_path / 'hitl.db'}",
               HITL_CHROMA_PATH=str(tmp_path / "chroma"), HITL_EMBEDDINGS="local")
    script = ("import sys\nsys.argv = ['hitl', 'ingest', sys.argv[1]]\n"
              "from hitl.cli import main\n"
              "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
              f"print('LOADED', sorted(m for m in {DEFERRED!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 approval card(s) created" in done.stdout
    assert "LOADED []" in done.stdout
