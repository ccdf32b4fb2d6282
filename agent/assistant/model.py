"""Tool calling with a chat model (when HITL_MODEL / OPENAI_* are set): in `plan` (stub)."""

from __future__ import annotations

from typing import Any


def build_planner(settings: Any) -> Any:
    return None
