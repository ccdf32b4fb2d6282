"""`hitl eval --baseline`: an injected regression (a worse policy) is found, listed first, and
shown side by side; the CLI resolves a baseline by run id."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import make_settings
from tests.evals.html_checks import assert_self_contained


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from agent.policy import Policy
    from config.settings import DEFAULTS_DIR
    from evals.runner import run_eval

    settings = make_settings(tmp_path_factory.mktemp("compare"))
    # The injected regression is in the lead policy: the lead cases are what is compared, so
    # the support conversations (two thirds of an eval run's time) are left out. The CLI test
    # below compares whole runs.
    baseline = run_eval(settings, graph=False, conversations_path=[])
    # The injected regression: someone drops "contact" from the hand-raise forms and raises the
    # band A threshold. Contact-form leads stop reaching a person; band A leads become B.
    data = tomllib.loads((DEFAULTS_DIR / "policy.toml").read_text())
    data["version"] = "2026.11.21-bad"
    data["routing"]["hand_raise_forms"] = ["demo", "pricing"]
    data["bands"]["A"] = 80
    worse = run_eval(settings, graph=False, conversations_path=[],
                     policy=Policy.model_validate(data))
    return {"baseline": baseline, "worse": worse}


def test_the_comparison_finds_the_injected_regression_first(runs: dict[str, Any]) -> None:
    from evals.compare import compare_runs

    comparison = compare_runs(runs["worse"], runs["baseline"])
    regressions = {r["id"]: r for r in comparison["regressions"]}
    assert "L002" in regressions  # contact form no longer a hand-raise
    assert regressions["L002"]["checks"][0] == "handoff"
    assert {"route", "handoff"} <= set(regressions["L002"]["checks"])
    assert regressions["L002"]["baseline"]["route"] == "hand_raise"
    assert regressions["L002"]["current"]["route"] == "nurture"
    assert "band" in regressions["L020"]["checks"]  # band A -> B
    # The most serious kind first: every missed handoff before any band-only change.
    order = [r["checks"][0] for r in comparison["regressions"]]
    assert order.index("band") > max(i for i, c in enumerate(order) if c == "handoff")
    worse = {m["metric"]: m for m in comparison["metrics"]}
    assert worse["route_accuracy"]["direction"] == "worse"
    assert worse["lead_handoff_recall"]["delta"] < 0
    assert comparison["metrics"][0]["direction"] == "worse"
    assert comparison["gate"]["baseline"] is True and comparison["gate"]["current"] is False
    assert "lead_handoff_recall" in comparison["gate"]["newly_failing"]


def test_no_regressions_against_itself(runs: dict[str, Any]) -> None:
    from evals.compare import compare_runs

    comparison = compare_runs(runs["baseline"], runs["baseline"])
    assert comparison["regressions"] == [] and comparison["improvements"] == []


def test_the_comparison_page_shows_both_sides(runs: dict[str, Any]) -> None:
    from evals.compare import compare_runs
    from reports.render import render_eval_html, render_eval_markdown

    comparison = compare_runs(runs["worse"], runs["baseline"])
    page = render_eval_html(runs["worse"], comparison)
    assert_self_contained(page)
    assert "Regressions, most serious first" in page
    assert "<del>hand_raise</del>" in page and "<ins>nurture</ins>" in page
    assert "REGRESSION L002" in render_eval_markdown(runs["worse"], comparison)


def test_word_diff_marks_only_what_changed() -> None:
    from reports.diff import word_diff_html

    old, new = word_diff_html("Hi Ada,\n\nBest,\nRiley", "Dear Ada,\n\nCheers,\nRiley")
    assert old == "<del>Hi</del> Ada,\n\n<del>Best,</del>\nRiley"
    assert new == "<ins>Dear</ins> Ada,\n\n<ins>Cheers,</ins>\nRiley"
    escaped, _ = word_diff_html("<b>x</b>", "y")
    assert "&lt;b&gt;" in escaped


# Two whole evals through the CLI (~20 s): `make test-slow` runs it, and CI runs that.
@pytest.mark.slow
def test_cli_eval_writes_the_report_and_finds_a_baseline_by_run_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hitl.cli import app
    from reports.store import runs as published

    monkeypatch.setenv("HITL_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'hitl.db'}")
    monkeypatch.setenv("HITL_CHROMA_PATH", str(tmp_path / "chroma"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    cli = CliRunner()
    first = cli.invoke(app, ["eval", "--no-graph", "--out", str(tmp_path / "out")])
    assert first.exit_code == 0, first.output
    assert "gate passed" in first.output
    for name in ("eval-report.html", "eval-report.json", "eval-summary.md"):
        assert (tmp_path / "out" / name).is_file()
    [run_dir] = published(tmp_path / "var" / "reports", "eval")
    second = cli.invoke(app, ["eval", "--no-graph", "--baseline", run_dir.name])
    assert second.exit_code == 0, second.output
    assert f"vs {run_dir.name}: 0 regressions" in second.output
    missing = cli.invoke(app, ["eval", "--no-graph", "--baseline", "eval-19990101T000000Z-x"])
    assert missing.exit_code == 2 and "not found" in missing.output
