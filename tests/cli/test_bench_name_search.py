"""`python -m bench.name_search`: the search it times is the one a draft runs (it names the
lead's company and finds nobody else), and its cost does not follow the number of records whose
names begin alike."""

from __future__ import annotations

from bench.name_search import measure


def test_the_search_of_a_draft_costs_the_same_in_a_crowd_of_names_alike() -> None:
    small, crowded = measure(20, "alike", 1), measure(400, "alike", 1)
    assert small["found"] == crowded["found"] == []
    assert small["keys"] == crowded["keys"] > 100
    # Host-independent: SQLite's VM steps. With 10-character keys the crowd cost 4x as many.
    assert crowded["vm_steps"] == small["vm_steps"], (small, crowded)
