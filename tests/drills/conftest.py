"""Slow drills: collected with the rest of the suite, run only with HITL_DRILLS=1 (`make drills`).

`make test` stays fast: every test under this folder is skipped there with the reason below.
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
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)
