"""The bench's calibration workload is the plain loop the ratio is defined by."""

from __future__ import annotations

from bench.cpu import calibrate, calibration_loop


def test_the_calibration_loop_adds_the_integers_below_n() -> None:
    assert calibration_loop(10) == 45
    assert calibration_loop(10_000) == sum(range(10_000))


def test_calibrate_reports_cpu_seconds_of_the_full_loop() -> None:
    assert calibrate(repeats=1) > 0
