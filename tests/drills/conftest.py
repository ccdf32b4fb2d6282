"""Drills. The fast ones (test_drills_*.py) run in `make test`; the slow ones (test_drill_*.py:
kill -9 at every stage, 1,000 replays, minutes of model failures, schemathesis) are collected
with the rest of the suite and run only with HITL_DRILLS=1 (`make drills`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("HITL_DRILLS") == "1":
        return
    skip = pytest.mark.skip(reason="slow drill: run with `make drills` (HITL_DRILLS=1)")
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.parent == HERE and path.name.startswith("test_drill_"):
            item.add_marker(skip)
