"""Model-graded evaluators (openevals-style rubrics): groundedness, tone, relevance, call to action.

Optional and advisory: they run only when a model endpoint is configured, are reported in their
own section, and never fail the gate (a judge model is neither deterministic nor free). Prompts are
Jinja2 files in `evals/prompts/`, each with a `{# version: ... #}` header recorded in the report.
The judge is the same OpenAI-compatible endpoint the drafter uses, through
`agent.drafting.build_chat_model` (so respx can intercept it in tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    import httpx
    from jinja2 import Environment

    from config.settings import Settings

PROMPTS_DIR = Path(__file__).parent / "prompts"
GRADERS = ("groundedness", "tone", "relevance", "call_to_action")
DEFAULT_LIMIT = 20
_VERSION = re.compile(r"\A\{#\s*version:\s*([A-Za-z0-9._-]+)\s*#\}")
Progress = Callable[[str], None]


class Grade(BaseModel):
    """The judge's answer: reasoning first (so it thinks before it scores), then pass/fail."""

    reasoning: str = Field(description="One short paragraph explaining the score.")
    score: bool = Field(description="True if the draft meets the rubric.")


@cache
def _environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(PROMPTS_DIR), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
    return env


def grader_version(name: str) -> str:
    text = (PROMPTS_DIR / f"{name}.j2").read_text(encoding="utf-8")
    match = _VERSION.match(text)
    return match.group(1) if match else "unversioned"


def render_grader(name: str, *, lead: dict[str, Any], package: dict[str, Any], subject: str,
                  body: str, sender_name: str) -> str:
    if name not in GRADERS:
        raise ValueError(f"unknown grader {name!r}; one of {', '.join(GRADERS)}")
    return _environment().get_template(f"{name}.j2").render(
        lead=lead, package=package, subject=subject, body=body, sender_name=sender_name).strip()


def _lead_view(case: dict[str, Any]) -> dict[str, Any]:
    why = case["actual"]["package"].get("why_now", "")
    return {"case": case["id"], "why_now": why}


def run_model_grading(
    results: Sequence[dict[str, Any]],
    settings: Settings,
    *,
    lead_records: dict[str, dict[str, Any]] | None = None,
    limit: int = DEFAULT_LIMIT,
    http_client: httpx.Client | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Grade up to `limit` drafts with every grader. Never raises for a judge failure."""
    if not settings.model_endpoint_configured:
        return {"available": False,
                "reason": "no model endpoint configured (set OPENAI_BASE_URL or OPENAI_API_KEY)"}
    from agent.drafting import build_chat_model

    judge = build_chat_model(settings, http_client=http_client).with_structured_output(
        Grade, method="json_schema")
    drafted = [r for r in results if (r.get("actual") or {}).get("draft")][:max(0, limit)]
    graded: list[dict[str, Any]] = []
    for case in drafted:
        draft = case["actual"]["draft"]
        lead = (lead_records or {}).get(case["id"]) or _lead_view(case)
        row: dict[str, Any] = {"id": case["id"], "title": case["title"], "grades": {}}
        for name in GRADERS:
            if progress is not None:
                progress(f"model grading: {case['id']} {name}")
            prompt = render_grader(name, lead=lead, package=case["actual"]["package"],
                                   subject=draft["subject"], body=draft["body"],
                                   sender_name=draft.get("sender") or "")
            try:
                raw = judge.invoke([("human", prompt)])
                grade = raw if isinstance(raw, Grade) else Grade.model_validate(raw)
            except Exception as exc:  # a judge failure is a gap in the report, not a crash
                row["grades"][name] = {"score": None, "error": _short_error(exc)}
            else:
                row["grades"][name] = {"score": grade.score, "reasoning": grade.reasoning[:1000]}
        graded.append(row)
    summary: dict[str, Any] = {}
    for name in GRADERS:
        scores = [g["grades"][name]["score"] for g in graded
                  if g["grades"][name].get("score") is not None]
        errors = sum(1 for g in graded if g["grades"][name].get("error"))
        summary[name] = {"pass_rate": round(sum(scores) / len(scores), 4) if scores else None,
                         "graded": len(scores), "errors": errors}
    return {"available": True, "model": settings.model, "graded_cases": len(graded),
            "limit": limit, "versions": {n: grader_version(n) for n in GRADERS},
            "summary": summary, "results": graded}


def _short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
