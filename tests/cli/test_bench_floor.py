"""`python -m bench.floor`: each library is timed doing what a real lead asked of it (the
graph runs reach the approval interrupt), and the lead's statements are counted."""

from __future__ import annotations

import pytest

from bench.floor import measure


@pytest.mark.slow
def test_the_libraries_are_timed_on_a_recorded_lead() -> None:
    figures = measure(samples=5, leads=2)
    # Every timed graph run went from the start to the approval, as a lead's run does.
    assert figures["graph_runs_at_the_approval"] == 5
    assert set(figures["per_lead_ms"]) == {"langgraph", "langchain_openai", "slack_sdk",
                                           "sqlalchemy"}
    assert all(ms > 0 for ms in figures["per_lead_ms"].values())
    # A lead reads and writes the store in several transactions (process, draft, card).
    assert figures["sql_per_lead"]["statements"] >= 10
    assert figures["sql_per_lead"]["transactions"] >= 3
    libraries = sum(figures["per_lead_ms"].values()) / figures["calibration_s"]
    # Recomputed from the printed figures, which are rounded (the calibration to 1 ms): on a
    # host whose loop takes ~1 s that alone moves a ratio of 25 by up to 0.0125, so the
    # tolerance is relative (0.2%); a library left out or counted twice is off by over 5%.
    assert figures["libraries_in_calibrations"] == pytest.approx(libraries, rel=2e-3, abs=0.01)
    assert figures["whole_lead_ms"] > 0
