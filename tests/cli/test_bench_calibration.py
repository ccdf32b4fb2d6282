"""The bench's calibration workload is the plain loop the ratio is defined by."""

from __future__ import annotations

import pytest

from bench.cpu import calibrate, calibration_loop


def test_the_calibration_loop_adds_the_integers_below_n() -> None:
    assert calibration_loop(10) == 45
    assert calibration_loop(10_000) == sum(range(10_000))


def test_calibrate_reports_cpu_seconds_of_the_full_loop() -> None:
    assert calibrate(repeats=1) > 0


def test_each_round_is_compared_with_the_loops_either_side_of_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.cpu as cpu

    loops = iter([1.0, 3.0, 2.0])  # before round 1, between, after round 2
    monkeypatch.setattr(cpu, "calibrate", lambda repeats=3: next(loops))

    class Server:  # the bench's side of a server: CPU seconds so far, leads posted and done
        cpu = 0.0

        def cpu_seconds(self) -> float:
            return self.cpu

        def post_hand_raises(self, tag: str, indices: range) -> list[str]:
            self.cpu += 0.02 * len(indices) if tag.endswith("0") else 0.05 * len(indices)
            return [f"{tag}-{i}" for i in indices]

        def wait_cards(self, leads: list[str]) -> None:
            assert leads

        def wait_drained(self) -> None:
            pass

    rounds = cpu.interleaved_rounds(Server(), rounds=2, leads=10)  # type: ignore[arg-type]
    assert rounds["cpu_ms_per_lead"] == [20.0, 50.0]
    assert rounds["ratio"] == [10.0, 20.0]  # 20 / mean(1, 3); 50 / mean(3, 2)
    assert rounds["median_ratio"] == 15.0
