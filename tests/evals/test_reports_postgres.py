"""`hitl report` on the scale-out store: the same seeded flow on PostgreSQL, the same numbers.

Skipped on a laptop without PostgreSQL; mandatory in CI (.ci/run sets HITL_REQUIRE_POSTGRES)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TOKEN, make_settings
from tests.evals.html_checks import assert_self_contained
from tests.evals.kpi_seed import seed_store

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(tmp_path: Any, postgres_url: str, smtp_sink: Any, clock: Any, content_library: Any
       ) -> Iterator[tuple[Any, Any, Any]]:
    from api.app import create_app
    from hitl.wiring import build_runtime
    from service.worker import Worker

    settings = make_settings(tmp_path, database_url=postgres_url, smtp_url=smtp_sink.url)
    rt = build_runtime(settings, clock=clock, library_override=content_library)
    rt.db.upgrade()
    worker = Worker(rt, threads=4)
    with TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield rt, worker, client
    worker.stop()
    rt.close()


def test_kpis_on_postgres(pg: tuple[Any, Any, Any], clock: Any) -> None:
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html
    from service.edit_pairs import sync_edit_pairs

    rt, worker, client = pg
    seed_store(client, worker, clock)
    run = build_kpi_report(rt, days=90)
    o = run["overall"]
    assert o["handoffs"] == 9 and o["decided"] == 7
    assert (o["approved"], o["edited"], o["rejected"]) == (4, 1, 2)
    assert (o["sla_met"], o["sla_missed"], o["sla_open"]) == (5, 2, 2)
    assert run["recycling"]["returned"] == 1 and run["meetings"]["meetings_set"] == 2
    assert run["edits"]["pairs"] == 1
    assert run["store"].startswith("postgresql+psycopg://")
    assert_self_contained(render_kpi_html(run))
    assert sync_edit_pairs(rt)["pairs"] == 1
