"""`hitl eval`: run every evaluator on the datasets, apply the gate, return one JSON-able run.

Sections: leads (routing, band, SLA, owner, disqualifiers, risks, top-3 signals, mentions,
grounding, guardrails, lead handoffs), graph (the real flow's approval interrupt), conversations
(the support bot's handoffs, when installed) and model grading (advisory, when an endpoint is
configured). The gate compares the deterministic metrics with `evals/thresholds.toml`, leaving out
the cases listed there as known failures.
"""

from __future__ import annotations

import platform
import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.assistant_eval import DATASET as ASSISTANT_DATASET
from evals.assistant_eval import METRICS as ASSISTANT_METRICS
from evals.cases import (
    CONVERSATION_DATASETS,
    LEAD_DATASETS,
    DatasetError,
    dataset_info,
    load_conversation_cases,
    load_lead_cases,
)
from evals.checks import THRESHOLDS_FILE, Thresholds, load_thresholds
from evals.lead_eval import (
    BANDS,
    ROUTES,
    confusion,
    guardrail_breakdown,
    handoff_errors,
    lead_metrics,
    other_people,
    run_lead_case,
)

if TYPE_CHECKING:
    import httpx

    from agent.drafting import Drafter
    from agent.policy import Policy
    from config.settings import Settings
    from tools.content_library import ContentLibrary

SCHEMA = 1
# (done, total, what is happening now)
ProgressFn = Callable[[int, int, str], None]
_GRAPH_STEPS = 4
# Metric -> the section that computes it (for the gate table and "not available" handling).
METRIC_SECTIONS = {
    "graph_interrupt_before_send": "graph", "graph_no_email_to_opted_out": "graph",
    "conversation_handoff_recall": "conversations",
    "conversation_handoff_precision": "conversations",
    "conversation_trigger_accuracy": "conversations",
    **dict.fromkeys(ASSISTANT_METRICS, "assistant"),
}


def _dataset_name(path: Path) -> str:
    """`leads-v1.jsonl` -> "leads", `leads-seeds-v1.jsonl` -> "leads-seeds"."""
    return path.name.removesuffix(".jsonl").rsplit("-v", 1)[0]


def new_run_id(kind: str, at: datetime) -> str:
    """Sortable by time: `eval-20261118T150000Z-1a2b3c`."""
    return f"{kind}-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def _git_commit(start: Path) -> str | None:
    """The checked-out commit, read from .git without running git (None outside a clone)."""
    for folder in (start, *start.parents):
        head = folder / ".git" / "HEAD"
        if head.is_file():
            ref = head.read_text().strip()
            if ref.startswith("ref: "):
                target = folder / ".git" / ref[5:]
                return target.read_text().strip()[:12] if target.is_file() else None
            return ref[:12]
    return None


def _library(settings: Settings, workdir: Path) -> ContentLibrary | None:
    """The shipped content library, indexed into a throwaway embedded Chroma."""
    from config.settings import DEFAULTS_DIR, load_settings
    from tools.content_library import ContentLibrary, open_chroma
    from tools.embeddings import build_embedding_function

    try:
        local = load_settings(database_url=f"sqlite:///{workdir / 'lib.db'}",
                              chroma_path=workdir / "chroma", chroma_url=None,
                              embeddings="local", openai_api_key=None, openai_base_url=None,
                              policy_file=settings.policy_file, team_file=settings.team_file)
        library = ContentLibrary(open_chroma(local), build_embedding_function(local))
        library.index_folder(DEFAULTS_DIR / "content")
        return library
    except Exception:  # packages without an asset are still worth evaluating
        return None


def evaluate_gate(metrics: dict[str, Any], thresholds: Thresholds,
                  available: dict[str, bool]) -> dict[str, Any]:
    """One row per threshold: value, minimum, passed | failed | n/a."""
    checks = []
    for name, minimum in thresholds.gate.items():
        value = metrics.get(name)
        section = METRIC_SECTIONS.get(name, "leads")
        if not available.get(section, True):
            status = "n/a"
            note = f"{section} not available"
        elif value is None:
            status = "n/a"
            note = "no cases measure this"
        else:
            status = "passed" if value >= minimum - 1e-9 else "failed"
            note = ""
        checks.append({"metric": name, "section": section, "value": value,
                       "minimum": minimum, "status": status, "note": note})
    failed = [c for c in checks if c["status"] == "failed"]
    return {"passed": not failed, "failed": [c["metric"] for c in failed], "checks": checks}


def run_eval(
    settings: Settings,
    *,
    leads_path: Path | Sequence[Path] = LEAD_DATASETS,
    conversations_path: Path | Sequence[Path] = CONVERSATION_DATASETS,
    thresholds_path: Path = THRESHOLDS_FILE,
    policy: Policy | None = None,
    drafter: Drafter | None = None,
    graph: bool = True,
    model_grading: bool | None = None,
    grade_limit: int = 20,
    support_entry_point: Callable[..., Any] | None = None,
    http_client: httpx.Client | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run the whole eval and return the run (its shape is in `evals/README.md`).

    `model_grading=None` grades when an endpoint is configured. `policy` and `drafter` override
    the configured ones (a candidate policy, a stub drafter in tests).
    """
    from agent.policy import load_policy, load_roster

    started = datetime.now(UTC)
    thresholds = load_thresholds(thresholds_path)
    lead_paths = [leads_path] if isinstance(leads_path, Path) else list(leads_path)
    per_file = [(path, load_lead_cases(path)) for path in lead_paths]
    lead_cases = [case for _, cases in per_file for case in cases]
    ids = [case.id for case in lead_cases]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise DatasetError(f"lead case ids repeated across datasets: {', '.join(dupes)}")
    conversation_paths = ([conversations_path] if isinstance(conversations_path, Path)
                          else list(conversations_path))
    conversation_files = [(path, load_conversation_cases(path)) for path in conversation_paths]
    conversation_cases = [case for _, cases in conversation_files for case in cases]
    conversation_ids = [case.id for case in conversation_cases]
    if len(set(conversation_ids)) != len(conversation_ids):
        dupes = sorted({i for i in conversation_ids if conversation_ids.count(i) > 1})
        raise DatasetError(f"conversation case ids repeated across datasets: {', '.join(dupes)}")
    policy = policy or load_policy(settings.policy_file)
    roster = load_roster(settings.team_file)
    grading = settings.model_endpoint_configured if model_grading is None else model_grading
    grade_calls = min(grade_limit, len(lead_cases)) * 4 if grading else 0
    total = len(lead_cases) + (_GRAPH_STEPS if graph else 0) + len(conversation_cases) \
        + grade_calls + 1
    done = 0

    def tick(message: str, step: int = 1) -> None:
        nonlocal done
        done = min(total, done + step)
        if progress is not None:
            progress(done, total, message)

    if drafter is None:
        from agent.drafting import build_drafter

        drafter = build_drafter(settings)
    with tempfile.TemporaryDirectory(prefix="hitl-eval-") as tmp:
        tick("indexing the content library")
        library = _library(settings, Path(tmp))
        others = other_people(lead_cases)
        results = []
        for case in lead_cases:
            results.append(run_lead_case(case, policy=policy, roster=roster, library=library,
                                         drafter=drafter, rules=thresholds.guardrails,
                                         others=others[case.id]))
            tick(f"lead case {case.id}")
        for result in results:
            result["known_failure"] = thresholds.known_failures.get(result["id"])

        graph_section: dict[str, Any]
        if graph:
            from evals.graph_eval import run_graph_check

            graph_section = run_graph_check(lead_cases, settings, library=library,
                                            progress=lambda m: tick(m))
        else:
            graph_section = {"available": False, "reason": "skipped (--no-graph)"}

        from evals.assistant_eval import run_assistant_eval  # the rep's assistant (issue 17)

        assistant = run_assistant_eval(settings, library=library,
                                       progress=lambda m: tick(m, 0))

    from evals.conversation_eval import run_conversation_eval

    conversations = run_conversation_eval(conversation_cases, settings,
                                          entry_point=support_entry_point,
                                          progress=lambda m: tick(m))

    if grading:
        from evals.graders import run_model_grading

        records = {c.id: {k: c.lead.get(k) for k in ("first_name", "last_name", "company",
                                                      "title", "industry", "country")}
                   for c in lead_cases}
        model_section = run_model_grading(results, settings, lead_records=records,
                                          limit=grade_limit, http_client=http_client,
                                          progress=lambda m: tick(m))
    else:
        model_section = {"available": False,
                         "reason": ("no model endpoint configured (set OPENAI_BASE_URL or "
                                    "OPENAI_API_KEY)") if not settings.model_endpoint_configured
                         else "skipped (--no-model-grading)"}

    # Gate: every deterministic metric, without the known failures.
    gated = [r for r in results if not r.get("known_failure")]
    gate_metrics = lead_metrics(gated)
    for key in ("graph_interrupt_before_send", "graph_no_email_to_opted_out"):
        gate_metrics[key] = graph_section.get(key)
    gate_metrics.update({k: v for k, v in conversations["metrics"].items()
                         if k.startswith("conversation_")})
    available = {"leads": True, "graph": bool(graph_section.get("available")),
                 "conversations": True, "assistant": True}
    gate_metrics.update({k: assistant["metrics"][k] for k in ASSISTANT_METRICS})
    gate = evaluate_gate(gate_metrics, thresholds, available)
    known = [{"id": r["id"], "title": r["title"], "reason": r["known_failure"],
              "still_failing": not r.get("passed")}
             for r in results if r.get("known_failure")]
    gate["known_failures"] = known
    gate["now_passing"] = [k["id"] for k in known if not k["still_failing"]]

    from prompts import DRAFT_TEMPLATES, OFFLINE_DRAFT_TEMPLATES, prompt_set_version

    drafted = [r["actual"]["draft"] for r in results if (r.get("actual") or {}).get("draft")]
    sources = sorted({d["source"] for d in drafted})
    prompt_versions = sorted({d["prompt_version"] for d in drafted if d.get("prompt_version")})
    finished = datetime.now(UTC)
    run = {
        "kind": "eval",
        "schema": SCHEMA,
        "run_id": new_run_id("eval", started),
        "created_at": started.isoformat(),
        "duration_s": round((finished - started).total_seconds(), 2),
        "environment": {
            "policy_version": policy.version,
            "prompt_versions": prompt_versions or [prompt_set_version(*OFFLINE_DRAFT_TEMPLATES)],
            "model_prompt_version": prompt_set_version(*DRAFT_TEMPLATES),
            "drafter": ("model: " + settings.model) if "model" in sources else
                       ("fallback draft" if "fallback" in sources else "offline draft"),
            "draft_sources": sources,
            "git_commit": _git_commit(Path(__file__).resolve().parent),
            "python": platform.python_version(),
            "thresholds_version": thresholds.version,
            "datasets": [*(dataset_info(_dataset_name(path), path, len(cases)).as_dict()
                           for path, cases in per_file),
                         *(dataset_info(path.stem.rsplit("-v", 1)[0], path, len(cases)).as_dict()
                           for path, cases in conversation_files),
                         dataset_info("assistant", ASSISTANT_DATASET,
                                      len(assistant["cases"])).as_dict()],
        },
        "gate": gate,
        "metrics": {"all_cases": lead_metrics(results), "gated": gate_metrics},
        "sections": {
            "routing": {"route": confusion(results, "route", ROUTES),
                        "band": confusion(results, "band", BANDS)},
            "lead_handoffs": handoff_errors(results),
            "guardrails": guardrail_breakdown(results),
            "graph": graph_section,
            "conversations": conversations,
            "assistant": assistant,
            "model_grading": model_section,
        },
        "cases": results,
    }
    tick("done")
    return run
