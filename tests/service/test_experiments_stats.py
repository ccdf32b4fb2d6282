"""The comparison's statistics against figures computed by hand (not by the library under
test), and the comparison of a seeded store."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from service.experiments_stats import adjusted, compare, difference_p, wilson
from tests.conftest import make_settings
from tests.service.experiments_helpers import policy_with_experiments, seed_variant

Z = 1.959963984540054  # the 97.5 % point of the standard normal


def wilson_by_hand(successes: int, n: int) -> tuple[float, float]:
    """Wilson (1927): (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    p = successes / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


@pytest.mark.parametrize(("successes", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662),   # Newcombe (1998), example: 81/263
    (15, 148, 0.0624, 0.1605),   # Newcombe (1998), example: 15/148
    (0, 20, 0.0, 0.1611),        # Newcombe (1998), example: 0/20
    (1, 29, 0.0061, 0.1718),     # Newcombe (1998), example: 1/29
])
def test_wilson_interval_matches_the_textbook(successes, n, low, high) -> None:
    got = wilson(successes, n)
    assert got is not None
    assert got[0] == pytest.approx(low, abs=1e-4) and got[1] == pytest.approx(high, abs=1e-4)
    by_hand = wilson_by_hand(successes, n)
    assert got[0] == pytest.approx(by_hand[0], abs=1e-9)
    assert got[1] == pytest.approx(by_hand[1], abs=1e-9)


def test_no_trials_no_interval() -> None:
    assert wilson(0, 0) is None


def test_three_primary_metrics_are_adjusted_as_one_family() -> None:
    # Benjamini-Hochberg by hand: sorted 0.01, 0.03, 0.04 -> 0.03, 0.045, 0.04 -> monotone
    # from the top: 0.03, 0.04, 0.04 (in the input's order 0.03, 0.04, 0.04)
    assert adjusted([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04], abs=1e-12)
    # 0.04 alone is significant at 5 %; among three tests with 0.2 and 0.5 it is not
    assert adjusted([0.04]) == [0.04]
    assert min(adjusted([0.04, 0.2, 0.5])) > 0.05


def test_fisher_exact_is_the_lady_tasting_tea() -> None:
    # Fisher (1935): 3 of 4 cups right vs 1 of 4; of the C(8,4) = 70 tables with these margins,
    # 1 + 16 as or more extreme each side: two-sided p = 34/70.
    result = difference_p([(3, 4), (1, 4)])
    assert result is not None
    p, test = result
    assert test == "fisher_exact" and p == pytest.approx(34 / 70, abs=1e-12)


def test_chi_square_for_three_variants_matches_the_hand_computation() -> None:
    # Successes 10/20, 5/20, 2/20: expected 17/3 each; chi² = Σ (O-E)²/E = 8.0438, df = 2,
    # and for df = 2 the tail is exp(-chi²/2).
    observed = [10, 5, 2]
    expected_s, expected_f = 17 / 3, 20 - 17 / 3
    chi2 = sum((o - expected_s) ** 2 / expected_s + ((20 - o) - expected_f) ** 2 / expected_f
               for o in observed)
    result = difference_p([(10, 20), (5, 20), (2, 20)])
    assert result is not None
    p, test = result
    assert test == "chi2_contingency"
    assert chi2 == pytest.approx(8.0438, abs=1e-4)
    assert p == pytest.approx(math.exp(-chi2 / 2), rel=1e-9)


def test_untestable_tables_say_so() -> None:
    assert difference_p([(0, 10), (0, 12)]) is None  # no success anywhere
    assert difference_p([(3, 10), (0, 0)]) is None  # a variant with no trials
    assert difference_p([(3, 10)]) is None


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, database_url: str) -> Any:
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         policy_file=policy_with_experiments(tmp_path))


def test_empty_store_compares_with_zero_counts_and_a_warning(rt) -> None:
    [x, y] = compare(rt)
    assert x["name"] == "first-email-length" and y["name"] == "band-a-cut"
    assert x["status"] == "running" and x["significant"] is False and x["small_sample"]
    for v in x["variants"]:
        assert v["assigned"] == v["replies"] == v["meetings"] == v["unsubscribes"] == 0
        assert v["rates"]["replies"] == {"rate": None, "n": 0, "low": None, "high": None}
    assert "small samples" in x["warning"]


def test_a_seeded_store_shows_the_winner_with_its_intervals(rt) -> None:
    seed_variant(rt, "first-email-length", "long", leads=263, sent=263, replies=81,
                 meetings=12, approved=200, edited=40, rejected=23)
    seed_variant(rt, "first-email-length", "short", leads=250, sent=250, replies=50,
                 meetings=5, unsubscribes=3, approved=180, edited=60, rejected=10)
    [x] = compare(rt, "first-email-length")
    long_, short = x["variants"]
    assert (long_["assigned"], long_["sent"], long_["replies"]) == (263, 263, 81)
    assert long_["rates"]["replies"]["low"] == pytest.approx(0.2553, abs=1e-4)
    assert long_["rates"]["replies"]["high"] == pytest.approx(0.3662, abs=1e-4)
    assert long_["decided"] == 263 and long_["approved_as_is"] == 200
    assert long_["rejected_by_reason"] == {"not_icp": 23}
    assert short["edit_ratio_mean"] == pytest.approx(0.1)
    assert short["unsubscribes"] == 3 and long_["unsubscribes"] == 0
    # 30.8 % vs 20.0 % replies: significant; the short variant differs from the control.
    assert x["tests"]["replies"]["test"] == "fisher_exact"
    assert x["tests"]["replies"]["p_value"] < 0.01
    assert x["significant"] is True and short["significant"] is True
    assert long_["significant"] is False
    assert x["small_sample"] is False and x["warning"] is None
    assert "editing the policy file" in x["keeping_the_winner"]
