"""`python -m bench.experiment_run`, small: two simulated weeks of "short vs long first email"
and support conversations through the real service, worker, SMTP sink and API. The report must
name the variant with more replies (and meetings), show 95 % intervals, call a difference
significant exactly when scipy does on the same counts, count every simulated reply, meeting and
unsubscribe once, and show CSAT for bot-only vs transferred conversations."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from bench.experiment_run import ExperimentRun, render, run

pytestmark = pytest.mark.slow

PRIMARY = ("replies", "meetings", "approved_as_is")
DENOMINATOR = {"replies": "sent", "meetings": "emailed_leads", "approved_as_is": "decided",
               "edited": "decided", "rejected": "decided", "unsubscribes": "emailed_leads"}


@pytest.fixture(scope="module")
def result() -> ExperimentRun:
    return run(leads=120, seed=5, conversations=30)


@pytest.fixture(scope="module")
def experiment(result: ExperimentRun) -> dict[str, Any]:
    [x] = result.experiments
    assert x["name"] == "first-email-length" and x["status"] == "ended"
    return x


def test_the_report_names_the_variant_with_more_replies_and_meetings(
        result: ExperimentRun, experiment: dict[str, Any]) -> None:
    text = render(result)
    variants = {v["name"]: v for v in experiment["variants"]}
    assert set(variants) == {"long", "short"}
    for metric in ("replies", "meetings"):
        rates = {name: v["rates"][metric]["rate"] for name, v in variants.items()}
        assert rates["long"] != rates["short"], rates
        best = max(rates, key=lambda name: rates[name])
        line = next(x for x in text.splitlines() if x.startswith(f"More {metric}:"))
        assert line.startswith(f"More {metric}: {best} ("), line
        p = experiment["tests"][metric]["p_value"]
        assert f"p = {p:.4f}" in line
        assert ("significant at 5 %" in line) == experiment["tests"][metric]["significant"]
    # The Markdown summary (the Slack post) has the experiment's line, with its verdict.
    summary = next(x for x in result.markdown.splitlines() if "first-email-length" in x)
    for name, v in variants.items():
        assert f"{name} replies {v['replies']}/{v['sent']}" in summary
    assert ("not significant yet" in summary) != experiment["significant"]


def test_the_intervals_are_scipys_wilson_intervals_and_are_shown(
        result: ExperimentRun, experiment: dict[str, Any]) -> None:
    from scipy.stats import binomtest

    text = render(result)
    for v in experiment["variants"]:
        for metric, den in DENOMINATOR.items():
            r = v["rates"][metric]
            assert r["n"] == v[den] > 0
            ci = binomtest(v[metric], v[den]).proportion_ci(confidence_level=0.95,
                                                            method="wilson")
            assert (r["low"], r["high"]) == (round(ci.low, 4), round(ci.high, 4))
            assert r["low"] <= r["rate"] <= r["high"]
        replies = v["rates"]["replies"]
        assert f"{replies['rate']:.1%} [{replies['low']:.1%}, {replies['high']:.1%}]" in text


def test_significant_is_what_scipy_says_on_the_same_counts(experiment: dict[str, Any]) -> None:
    from scipy.stats import fisher_exact

    long, short = experiment["variants"]
    for metric, test in experiment["tests"].items():
        den = DENOMINATOR[metric]
        table = [[long[metric], short[metric]],
                 [long[den] - long[metric], short[den] - short[metric]]]
        if sum(table[0]) == 0 or sum(table[1]) == 0:
            assert test["p_value"] is None and test["significant"] is False
            continue
        p = float(fisher_exact(table).pvalue)
        assert test["test"] == "fisher_exact"
        assert test["p_value"] == pytest.approx(p, abs=1e-6)
        # significance is on the primary metrics' Benjamini-Hochberg adjusted p-values
        assert test["p_adjusted"] >= test["p_value"] - 1e-9
        assert test["significant"] is (test["p_adjusted"] < 0.05)
    assert experiment["significant"] is any(experiment["tests"][m]["significant"]
                                            for m in PRIMARY)
    # Under 30 decided or sent per variant the report says so.
    small = any(v["decided"] < 30 or v["sent"] < 30 for v in experiment["variants"])
    assert experiment["small_sample"] is small and bool(experiment["warning"]) is small


def test_every_simulated_outcome_is_credited_once_to_its_variant(
        result: ExperimentRun, experiment: dict[str, Any]) -> None:
    t = result.tally
    variants = {v["name"]: v for v in experiment["variants"]}

    def total(key: str) -> int:
        return sum(v[key] for v in variants.values())

    # Each reply names the sent Message-ID (In-Reply-To); each lead books and unsubscribes once.
    assert t.events["inbound_reply"] > 0 and total("replies") == t.events["inbound_reply"]
    assert total("meetings") == t.events["meeting_booked"]
    assert total("unsubscribes") == t.events["unsubscribe"]
    # Every decision a rep made was recorded with the lead's variant.
    assert total("decided") == sum(t.decisions.values())
    assert total("edited") == sum(n for k, n in t.decisions.items() if k.endswith(":edit"))
    # First emails went out over SMTP, one per emailed lead, and the short template is shorter
    # (the median: a rep who cuts a paragraph of the long one can send the short one).
    for name, v in variants.items():
        assert v["emailed_leads"] == t.first_emails[name] > 0
    assert statistics.median(t.words["short"]) * 1.5 < statistics.median(t.words["long"])


def test_csat_for_bot_only_and_transferred_conversations(result: ExperimentRun) -> None:
    cs = result.kpi["csat"]
    assert cs["available"] is True
    paths = {r["key"]: r for r in cs["by_path"]}
    assert set(paths) == {"bot_only", "transferred"}
    assert paths["bot_only"]["ratings"] > 0 and paths["transferred"]["ratings"] > 0
    assert sum(r["ratings"] for r in paths.values()) == cs["overall"]["ratings"] \
        == result.tally.support["rated:200"]
    assert {r["key"] for r in cs["by_trigger"]} <= {"asked_for_human", "sensitive_topic",
                                                    "churn_threat"}
    text = render(result)
    for key, row in paths.items():
        assert any(line.startswith(key) and f"{row['csat']:.0%}" in line
                   for line in text.splitlines()), key
    line = next(x for x in result.markdown.splitlines() if x.startswith("- CSAT"))
    assert f"bot only {paths['bot_only']['csat']:.0%}" in line
    assert f"transferred {paths['transferred']['csat']:.0%}" in line
    assert cs["callbacks"]["scheduled"] == result.tally.support["callback_asked"]
