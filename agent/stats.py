"""Summary statistics shared by the KPI report, the eval report, the support KPIs and the bench.

One percentile definition for the whole project, so a p90 means the same thing on every page.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float | None:
    """The `q` quantile (a fraction in whole percents: 0.5, 0.9, 0.99) of `values`, or None
    when there are none.

    Linear interpolation between the closest ranks (numpy's default,
    `statistics.quantiles(method="inclusive")`): the p50 of [1, 2, 3, 4] is 2.5.
    """
    data = [float(v) for v in values]
    if not data:
        return None
    cut = round(q * 100)
    if not 0 <= cut <= 100 or abs(q * 100 - cut) > 1e-9:
        raise ValueError(f"percentile: q must be a whole percent between 0 and 1, not {q!r}")
    if len(data) == 1 or cut in (0, 100):
        return min(data) if cut == 0 else max(data) if cut == 100 else data[0]
    return statistics.quantiles(data, n=100, method="inclusive")[cut - 1]
