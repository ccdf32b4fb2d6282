"""One percentile for the whole project (KPI report, support KPIs, bench): linear between ranks."""

from __future__ import annotations

import pytest

from agent.stats import percentile


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([180, 420], 0.9) == 396.0
    assert percentile(list(range(101)), 0.99) == 99
    assert percentile([3, 1, 2], 0.0) == 1 and percentile([3, 1, 2], 1.0) == 3


def test_percentile_of_nothing_is_none_and_of_one_value_is_that_value() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.5], 0.99) == 7.5


def test_percentile_refuses_a_q_that_is_not_a_whole_percent() -> None:
    with pytest.raises(ValueError, match="whole percent"):
        percentile([1, 2], 90)
    with pytest.raises(ValueError, match="whole percent"):
        percentile([1, 2], 0.905)
