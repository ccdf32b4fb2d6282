"""`hitl eval`: the offline evaluation and its CI gate (evals/), written and published.

The orchestration (baseline lookup, rendering, publishing) lives here until evals/ grows a
home for it; evals/ itself stays free of the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hitl.commands._common import progress_bar, settings_or_exit

EVAL_HELP = (
    "Evaluate routing, packages and drafts on the known cases and apply the CI gate.\n\n"
    "Runs the lead, support-conversation and assistant-ask datasets in evals/datasets/ "
    "through the real "
    "policy, context, drafting and graph code, scores them against their expectations, compares "
    "the scores with evals/thresholds.toml and writes a self-contained HTML page, JSON and a "
    "Markdown summary. Works offline on the embedded defaults."
)


def eval_command(
    out: Annotated[Path | None, typer.Option(
        "--out", file_okay=False,
        help="Also write eval-report.html, eval-report.json and eval-summary.md into this "
             "folder.")] = None,
    baseline: Annotated[str | None, typer.Option(
        "--baseline", metavar="RUN",
        help="Compare with a previous run: its JSON file, its folder, or its run id "
             "(eval-2026...). Regressions are listed first.")] = None,
    graph: Annotated[bool, typer.Option(
        "--graph/--no-graph",
        help="Replay the lead cases through the real graph to prove the approval interrupt "
             "comes before any send (a few seconds).")] = True,
    model_grading: Annotated[bool | None, typer.Option(
        "--model-grading/--no-model-grading",
        help="Model-graded groundedness, tone, relevance and call to action (advisory, never "
             "a gate). Default: on when OPENAI_BASE_URL or OPENAI_API_KEY is set.",
        show_default=False)] = None,
    grade_limit: Annotated[int, typer.Option(
        min=0, help="Model-grade at most this many drafts.")] = 20,
    publish: Annotated[bool, typer.Option(
        "--publish/--no-publish",
        help="Store the run where GET /v1/reports/eval and later --baseline find it.")] = True,
    fail_on_gate: Annotated[bool, typer.Option(
        "--fail-on-gate/--no-fail-on-gate", help="Exit 1 when the gate fails.")] = True,
) -> None:
    """`hitl eval` (help text above)."""
    from evals.cases import DatasetError
    from evals.compare import compare_runs
    from evals.runner import run_eval
    from reports.render import render_eval_html, render_eval_markdown
    from reports.store import find_run, load_run, reports_root, write_files
    from reports.store import publish as publish_run

    settings = settings_or_exit()
    root = reports_root(settings)
    base = None
    if baseline:
        found = find_run(root, "eval", baseline)
        if found is None:
            typer.secho(f"baseline {baseline!r} not found: give a run JSON file, a run folder, "
                        f"or a run id published under {root / 'eval'}", fg=typer.colors.RED,
                        err=True)
            raise typer.Exit(2)
        try:
            base = load_run(found)
        except ValueError as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
    with progress_bar() as progress:
        task = progress.add_task("starting", total=None)

        def report(done: int, total: int, message: str) -> None:
            progress.update(task, completed=done, total=total, description=message)

        try:
            run = run_eval(settings, graph=graph, model_grading=model_grading,
                           grade_limit=grade_limit, progress=report)
        except DatasetError as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
    comparison = compare_runs(run, base) if base is not None else None
    if comparison is not None:
        run["comparison"] = comparison
    html = render_eval_html(run, comparison)
    markdown = render_eval_markdown(run, comparison)
    written = []
    if out is not None:
        paths = write_files(out, run, html, markdown, prefix="eval-")
        written.append(paths["html"])
    if publish:
        written.append(publish_run(root, "eval", run, html, markdown) / "report.html")
    gate = run["gate"]
    colour = typer.colors.GREEN if gate["passed"] else typer.colors.RED
    typer.secho(f"gate {'passed' if gate['passed'] else 'FAILED'}"
                + (f": below the minimum: {', '.join(gate['failed'])}" if gate["failed"] else ""),
                fg=colour, bold=True)
    metrics = run["metrics"]["all_cases"]
    support = run["sections"]["conversations"]
    if support["available"]:
        scores = support["metrics"]
        support_line = (f"handoff recall {scores['conversation_handoff_recall']}, precision "
                        f"{scores['conversation_handoff_precision']} "
                        f"({'gated' if support.get('gated', True) else 'reported, not gated'})")
    else:
        support_line = support["reason"]
    typer.echo(f"{metrics['passed']}/{metrics['cases']} lead cases pass; "
               f"{len(gate['known_failures'])} known failure(s); support conversations: "
               f"{support_line}")
    assistant = run["sections"].get("assistant")
    if assistant:  # the rep's assistant (issue 17): its asks and the offline answer latency
        scores, latency = assistant["metrics"], assistant["latency_ms"]
        typer.echo(f"assistant: {scores['assistant_pass_rate']:.0%} of "
                   f"{len(assistant['cases'])} asks pass; answer latency median "
                   f"{latency['median']} ms, p95 {latency['p95']} ms ({assistant['planner']})")
    if comparison is not None:
        typer.echo(f"vs {comparison['baseline_run_id']}: {len(comparison['regressions'])} "
                   f"regressions, {len(comparison['improvements'])} improvements")
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"run id {run['run_id']}")
    if fail_on_gate and not gate["passed"]:
        raise typer.Exit(1)
