"""The KPI report's experiments section: each A/B test of the policy file, variant by variant,
from `service.experiments_stats.compare` (the same figures as `GET /v1/experiments`), made
JSON-able for the stored run. The report covers every outcome recorded so far for each
experiment, not only the report's window: an experiment has its own start and end."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from service.experiments_stats import compare

if TYPE_CHECKING:
    from service.runtime import AppRuntime


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def experiments_section(rt: AppRuntime) -> dict[str, Any]:
    """{"experiments": [...]} with every count, rate and interval; an empty list when the
    policy file has no `[[experiments]]`."""
    return {"experiments": _jsonable(compare(rt))}


def markdown_lines(section: dict[str, Any] | None) -> list[str]:
    """One line per experiment for the managers' summary: the replies and meetings per variant,
    and whether the difference is significant yet."""
    lines = []
    for x in (section or {}).get("experiments", []):
        parts = []
        for v in x["variants"]:
            replies, meetings = v["rates"]["replies"], v["rates"]["meetings"]
            parts.append(f"{v['name']} replies {v['replies']}/{replies['n']}"
                         f" meetings {v['meetings']}/{meetings['n']}")
        verdict = "significant" if x["significant"] else "not significant yet"
        small = " (small samples)" if x["small_sample"] else ""
        lines.append(f"- Experiment {x['name']} ({x['status']}): {'; '.join(parts)}: "
                     f"{verdict}{small}")
    return lines
