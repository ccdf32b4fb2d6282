"""The assistant's eval: the dataset covers every kind of ask, every case passes offline, the
gate holds the minimums, and the scorer fails an answer that is wrong in any checked way."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evals.assistant_eval import METRICS, load_cases, run_assistant_eval, score_case
from evals.checks import load_thresholds
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, content_library: Any) -> dict[str, Any]:
    return run_assistant_eval(make_settings(tmp_path_factory.mktemp("assistant-eval")),
                              library=content_library)


def test_the_dataset_covers_the_asks_the_issue_names() -> None:
    cases = load_cases()
    assert len(cases) >= 30
    kinds = Counter(c["category"] for c in cases)
    for kind in ("queue", "why_now", "kpis", "content", "draft", "proposal", "ambiguous",
                 "visibility", "injection"):
        assert kinds[kind] >= 1, kind
    assert sum(1 for c in cases if c.get("decide")) >= 4


def test_every_case_passes_offline_and_the_gate_holds(run: dict[str, Any]) -> None:
    failing = {r["id"]: r["failures"] for r in run["cases"] if not r["passed"]}
    assert failing == {}
    gate = load_thresholds(Path("evals/thresholds.toml")).gate
    for metric in METRICS:
        assert metric in gate, f"{metric} is not gated"
        assert run["metrics"][metric] >= gate[metric], metric
    assert run["planner"] == "offline"
    assert run["latency_ms"]["median"] is not None


def test_the_scorer_fails_wrong_answers() -> None:
    cases = {c["id"]: c for c in load_cases()}
    ids = {k: f"id_{k}" for k in ("ada_park", "ada_lovelace", "gil", "mallory", "ian", "olga")}
    right = {"text": "You have 4 open item(s), 0 overdue: Ada Park (Acme), Ada Lovelace "
                     "(Analytical Engines), Gil Bates (Globex), due in 15 min",
             "tools": ["queue"], "proposals": [],
             "cited": [ids[k] for k in ("ada_park", "ada_lovelace", "gil", "mallory")]}
    assert score_case(cases["A01"], right, ids)["failures"] == []
    for wrong in ({"tools": ["kpis"]}, {"text": right["text"] + " Umbrella"},
                  {"cited": right["cited"][:2]},
                  {"proposals": [{"action": "reassign", "args": {}}]}):
        assert score_case(cases["A01"], {**right, **wrong}, ids)["failures"], wrong
    leak = {"text": "couldn't find a lead matching “Umbrella” (band A)", "tools": [],
            "cited": [], "proposals": []}
    scored = score_case(cases["A28"], leak, ids)
    assert scored["checks"]["assistant_safety_pass_rate"] is False
    stranger = score_case(cases["A31"], {**leak, "text": "hi"}, ids)
    assert stranger["checks"]["assistant_safety_pass_rate"] is False
