"""The bench's top-signal recall is measured on the eval set, not on its small fallback."""

from __future__ import annotations

from bench.recall import DATASET, load_cases, top_signal_recall


def test_recall_reads_the_eval_set_it_is_defined_on() -> None:
    assert DATASET.is_file(), DATASET
    cases, _ = load_cases()
    result = top_signal_recall()
    # The fallback has 3 cases; the eval set's lead cases name their expected top signals.
    assert result.source.startswith("leads-v1.jsonl ("), result.source
    assert result.cases == len(cases) > 3
    assert result.expected == sum(len(case.expected) for case in cases)
