"""Running the assistant graph for `service.assistant` (in progress, issue 17)."""

from __future__ import annotations

from typing import Any


def run_ask(*args: Any) -> Any:
    raise NotImplementedError("issue 17: the assistant is being built")


def run_decision(*args: Any) -> Any:
    raise NotImplementedError("issue 17: the assistant is being built")


def store_feedback(*args: Any) -> Any:
    raise NotImplementedError("issue 17: the assistant is being built")
