"""The experiments' surfaces on empty and seeded stores: `GET /v1/experiments`, `hitl
experiments list|show|stop`, the KPI report's section (HTML, Markdown, JSON) and `hitl tune`'s
proposal from a winning threshold variant (proposed, never applied)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from store.tables import AuditEntry, ExperimentStop
from tests.conftest import TOKEN, make_settings
from tests.service.experiments_helpers import (
    assignments,
    make_leads,
    policy_with_experiments,
    seed_variant,
)


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, database_url: str) -> Any:
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         policy_file=policy_with_experiments(tmp_path))


def _seed(rt: Any) -> None:
    seed_variant(rt, "first-email-length", "long", leads=263, sent=263, replies=81, meetings=12,
                 approved=200, edited=40, rejected=23)
    seed_variant(rt, "first-email-length", "short", leads=250, sent=250, replies=50,
                 meetings=5, approved=180, edited=60, rejected=10)
    seed_variant(rt, "band-a-cut", "control", leads=120, sent=120, replies=10, meetings=2,
                 approved=100, prefix="bc")
    seed_variant(rt, "band-a-cut", "lower", leads=120, sent=120, replies=40, meetings=12,
                 approved=100, prefix="bl")


@pytest.fixture
def cli(settings: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import hitl.wiring

    build = hitl.wiring.build_runtime
    monkeypatch.setattr(hitl.wiring, "build_runtime",
                        lambda s, **kw: build(s, **{"clock": clock, **kw}))
    for name, value in (("HITL_DATABASE_URL", settings.database_url),
                        ("HITL_CHROMA_PATH", str(settings.chroma_path)),
                        ("HITL_EMBEDDINGS", "local"), ("HITL_API_TOKEN", TOKEN),
                        ("HITL_POLICY_FILE", str(settings.policy_file)),
                        ("HITL_TEAM_FILE", str(settings.team_file))):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def run(*args: str) -> Any:
        from hitl.cli import app

        return CliRunner().invoke(app, list(args))

    return run


def test_api_on_an_empty_store(client) -> None:
    response = client.get("/v1/experiments")
    assert response.status_code == 200, response.text
    [x, y] = response.json()
    assert [v["name"] for v in x["variants"]] == ["long", "short"]
    for v in x["variants"]:
        assert {k: v[k] for k in ("assigned", "approved_as_is", "edited", "rejected", "replies",
                                  "meetings", "unsubscribes")} == dict.fromkeys(
            ("assigned", "approved_as_is", "edited", "rejected", "replies", "meetings",
             "unsubscribes"), 0)
        assert v["rates"]["replies"]["rate"] is None
    assert x["significant"] is False and x["small_sample"] is True and x["warning"]
    assert client.get("/v1/experiments/nope").status_code == 404
    assert "first-email-length" in client.get("/v1/experiments/nope").text
    assert client.get("/v1/experiments", headers={"Authorization": "Bearer wrong"}
                      ).status_code == 401


def test_api_on_a_seeded_store(client, rt) -> None:
    _seed(rt)
    x = client.get("/v1/experiments/first-email-length").json()
    long_, short = x["variants"]
    assert long_["replies"] == 81 and long_["sent"] == 263
    assert long_["rates"]["replies"]["low"] == pytest.approx(0.2553, abs=1e-4)
    assert long_["rates"]["replies"]["high"] == pytest.approx(0.3662, abs=1e-4)
    assert x["significant"] is True and short["significant"] is True
    assert x["tests"]["replies"]["test"] == "fisher_exact"
    assert x["small_sample"] is False


def test_cli_list_show_and_stop(cli, rt, clock) -> None:
    empty = cli("experiments", "list")
    assert empty.exit_code == 0, empty.output
    assert "first-email-length" in empty.output and "small samples" in empty.output
    _seed(rt)
    shown = cli("experiments", "show", "first-email-length")
    assert shown.exit_code == 0, shown.output
    assert "replies" in shown.output and "31% [26%-37%] of 263" in shown.output
    assert "significant: yes" in shown.output and "edit the policy file" in shown.output
    as_json = json.loads(cli("experiments", "show", "band-a-cut", "--json").output)
    assert as_json["variants"][1]["replies"] == 40
    assert cli("experiments", "show", "nope").exit_code == 1

    policy_text = rt.settings.policy_file.read_text()
    stopped = cli("experiments", "stop", "first-email-length", "--actor", "U0MGR0001",
                  "--note", "short lost")
    assert stopped.exit_code == 0, stopped.output
    assert "no new leads get a variant" in stopped.output
    assert "edit the policy file" in stopped.output
    assert rt.settings.policy_file.read_text() == policy_text  # never edits the policy
    with rt.db.read() as s:
        stop = s.get(ExperimentStop, "first-email-length")
        assert stop is not None and stop.stopped_by == "U0MGR0001" and stop.stopped_at == clock.now()
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "experiment_stopped"))
        assert entry.detail["experiment"] == "first-email-length"
    assert cli("experiments", "stop", "first-email-length").exit_code == 3  # once
    assert "stopped" in cli("experiments", "list").output

    # New leads get no variant in the stopped experiment; the other one still assigns.
    from service.experiments import variants_for

    [fresh] = make_leads(rt, 1, "new")
    got = variants_for(rt, fresh, ("offline_template", "policy_threshold"))
    assert [e.name for e, _ in got] == ["band-a-cut"]
    assert ("first-email-length", fresh) not in assignments(rt)


def _report(rt: Any) -> tuple[dict[str, Any], str, str]:
    from reports.kpi.build import build_kpi_report
    from reports.render import render_kpi_html, render_kpi_markdown

    run = build_kpi_report(rt, days=None, weeks=4)
    json.dumps(run)  # storable as the run's JSON
    return run, render_kpi_html(run), render_kpi_markdown(run)


def test_report_section_on_empty_and_seeded_stores(rt) -> None:
    run, html, markdown = _report(rt)
    assert [x["name"] for x in run["experiments"]["experiments"]] == ["first-email-length",
                                                                        "band-a-cut"]
    assert '<section id="experiments">' in html and "small sample" in html
    assert "Experiment first-email-length (running)" in markdown
    _seed(rt)
    run, html, markdown = _report(rt)
    assert "25.5%" in html or "26%" in html  # the control's reply interval, low end
    assert "fisher_exact" in html and "significant" in html
    assert "long replies 81/263" in markdown and ": significant" in markdown


def test_report_without_experiments_renders(tmp_path, clock, content_library) -> None:
    from hitl.wiring import build_runtime

    rt = build_runtime(make_settings(tmp_path), clock=clock, library_override=content_library)
    rt.db.upgrade()
    try:
        run, html, markdown = _report(rt)
        assert run["experiments"] == {"experiments": []}
        assert "No experiments in the policy file" in html
        assert "Experiment" not in markdown
        del run["experiments"]  # a run stored before this section existed still renders
        from reports.render import render_kpi_html
        assert '<section id="experiments">' in render_kpi_html(run)
    finally:
        rt.close()


def test_tune_proposes_the_winning_threshold_and_applies_nothing(rt, cli, tmp_path) -> None:
    from service.tuning import propose

    _seed(rt)
    before = rt.settings.policy_file.read_text()
    proposal = propose(rt)
    advice = {a.experiment: a for a in proposal.experiments}
    assert advice["band-a-cut"].winner == "lower"
    assert advice["first-email-length"].winner == "long"  # the control did best
    assert "keep the policy as it is" in advice["first-email-length"].advice
    [change] = [c for c in proposal.changes if c.path == "bands.A"]
    assert change.new == 55 and change.old == rt.policy.bands.A
    assert "experiment band-a-cut" in change.evidence and "40/120" in change.evidence
    assert "+A = 55" in proposal.diff
    assert rt.settings.policy_file.read_text() == before
    out = tmp_path / "proposed.toml"
    result = cli("tune", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Experiments (what the evidence says to keep; nothing is applied)" in result.output
    assert "band-a-cut (policy_threshold): keep lower" in result.output
    assert rt.settings.policy_file.read_text() == before and out.exists()


def test_tune_lists_csat_by_path_and_trigger(rt, cli, tmp_path, clock) -> None:
    from service.tuning import propose
    from store.tables import SupportConversation
    from store.tables.feedback import SupportRating

    assert propose(rt).csat == {"by_path": {}, "by_trigger": {}}
    with rt.db.session() as s:
        for i, (path, trigger, score) in enumerate([("bot_only", None, 5), ("bot_only", None, 4),
                                                    ("transferred", "billing", 2)]):
            s.add(SupportConversation(id=f"conv{i}", status="resolved", created_at=clock.now(),
                                      updated_at=clock.now()))
            s.flush()
            s.add(SupportRating(id=f"rat{i}", conversation_id=f"conv{i}", epoch=1, score=score,
                                path=path, trigger=trigger, rated_by="customer_token",
                                created_at=clock.now()))
    csat = propose(rt).csat
    assert csat is not None
    assert csat["by_path"] == {"bot_only": {"ratings": 2, "mean": 4.5},
                               "transferred": {"ratings": 1, "mean": 2.0}}
    assert csat["by_trigger"]["billing"] == {"ratings": 1, "mean": 2.0}
    result = cli("tune", "--out", str(tmp_path / "p.toml"))
    assert "Customer satisfaction" in result.output and "billing" in result.output
