"""Drills. The fast ones (test_drills_*.py) run in `make test`. The slow ones (test_drill_*.py:
kill -9 at every stage, 1,000 replays, minutes of model failures, schemathesis) are marked
`slow` here, so `make test` (`-m "not slow"`) leaves them to `make drills`, which CI runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.parent == HERE and path.name.startswith("test_drill_"):
            item.add_marker(pytest.mark.slow)
