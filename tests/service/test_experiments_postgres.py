"""Experiments on PostgreSQL (skipped without HITL_TEST_POSTGRES_URL, set by .ci/run): the
migration, the conflict-ignoring assignment insert, and the comparison's queries."""

from __future__ import annotations

from typing import Any

from service.experiments import variants_for
from service.experiments_stats import compare
from tests.conftest import make_settings
from tests.service.experiments_helpers import make_leads, policy_with_experiments, seed_variant


def test_assignment_and_comparison_on_postgres(postgres_url, tmp_path, clock,
                                               content_library) -> None:
    from hitl.wiring import build_runtime

    settings = make_settings(tmp_path, database_url=postgres_url,
                             policy_file=policy_with_experiments(tmp_path))
    rt: Any = build_runtime(settings, clock=clock, library_override=content_library)
    rt.db.upgrade()
    try:
        seed_variant(rt, "first-email-length", "long", leads=20, sent=20, replies=5, approved=10)
        [lead] = make_leads(rt, 1, "pg")
        first = variants_for(rt, lead, ("offline_template", "policy_threshold"))
        assert first and first == variants_for(rt, lead, ("offline_template", "policy_threshold"))
        [x] = compare(rt, "first-email-length")
        assert (x["variants"][0]["replies"], x["variants"][0]["sent"]) == (5, 20)
    finally:
        rt.close()
