"""HTML and Markdown renderings of eval and KPI runs.

The HTML is one self-contained page: inline CSS, inline SVG charts, no script, no remote font,
image or stylesheet. Templates live in `reports/templates/` and are autoescaped: lead-supplied text
(names, replies, drafts) ends up in these pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports import charts
from reports.diff import word_diff_html

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES_DIR = Path(__file__).parent / "templates"

# metric -> (label, what it measures)
METRICS: dict[str, tuple[str, str]] = {
    "route_accuracy": ("Routing accuracy",
                       "lead cases routed as the policy intends (hand-raise, strategic, band A, "
                       "nurture, disqualified)"),
    "band_accuracy": ("Band accuracy", "lead cases given the expected band (A, B, C)"),
    "sla_accuracy": ("SLA accuracy", "lead cases whose due time matches the transition matrix"),
    "owner_accuracy": ("Owner accuracy",
                       "named accounts, territories and fallbacks assigned as the roster says"),
    "disqualifier_accuracy": ("Disqualifier accuracy",
                              "students, competitors, throwaway and invalid domains caught, and "
                              "near misses let through"),
    "risk_accuracy": ("Risk accuracy",
                      "complaints, competitor mentions, opt-outs and suppressions flagged, and "
                      "only those"),
    "top3_signal_recall": ("Top-3 signal recall",
                           "expected key signals found among the package's top three"),
    "mention_pass_rate": ("Must / must-not mention",
                          "drafts and packages that say what they must and nothing they must "
                          "not (injected instructions, competitor names, internal words)"),
    "grounding_pass_rate": ("Grounding",
                            "drafts whose every name, number, date and link is in the package, "
                            "and packages whose cited events exist"),
    "guardrail_pass_rate": ("Guardrails",
                            "drafts with no placeholder, forbidden promise, other lead's data, "
                            "email address, internal word or unknown link, and of sane length"),
    "lead_handoff_recall": ("Lead handoff recall",
                            "leads that should reach a person and do (a miss is a lost buyer)"),
    "lead_handoff_precision": ("Lead handoff precision",
                               "leads sent to a person that should be (a miss wastes a rep)"),
    "graph_interrupt_before_send": ("Approval before send",
                                    "handoffs whose checkpoints show the approval interrupt "
                                    "before any send, in the real graph"),
    "graph_no_email_to_opted_out": ("No email to opted-out leads",
                                    "unsubscribed or no-consent leads that received nothing"),
    "conversation_handoff_recall": ("Support handoff recall",
                                    "conversations that should go to a person and did"),
    "conversation_handoff_precision": ("Support handoff precision",
                                       "conversations handed over that should have been"),
    "conversation_trigger_accuracy": ("Support trigger accuracy",
                                      "handoffs that name the expected trigger"),
}


def metric_label(name: str) -> str:
    return METRICS.get(name, (name.replace("_", " ").capitalize(), ""))[0]


def metric_help(name: str) -> str:
    return METRICS.get(name, ("", ""))[1]


def fmt_pct(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


def fmt_duration(value: Any) -> str:
    return "–" if value is None else charts.duration(float(value))


def fmt_num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{float(value):,.{digits}f}"


def fmt_when(value: Any) -> str:
    if not value:
        return "–"
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return f"{at:%Y-%m-%d %H:%M} UTC"


def heat(value: int, total: int, good: bool) -> str:
    """Inline background for a confusion-matrix cell: green on the diagonal, red off it."""
    if not value or not total:
        return ""
    alpha = 0.15 + 0.6 * value / total
    rgb = "22,163,74" if good else "220,38,38"
    return f"background: rgba({rgb},{alpha:.2f})"


@cache
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), undefined=StrictUndefined,
                      autoescape=select_autoescape(("html", "j2")), trim_blocks=True,
                      lstrip_blocks=True, extensions=["jinja2.ext.do"])
    env.filters.update(pct=fmt_pct, dur=fmt_duration, num=fmt_num, when=fmt_when,
                       label=metric_label, help=metric_help)
    env.globals.update(heat=heat, word_diff=_word_diff)
    env.tests["passing"] = lambda name, case: bool(case["checks"][name]["passed"])
    return env


def _word_diff(old: Any, new: Any) -> tuple[Any, Any]:
    from markupsafe import Markup

    if old is None or new is None:
        none = Markup('<span class="muted">(none)</span>')
        left = none if old is None else Markup("<del>%s</del>") % str(old)
        right = none if new is None else Markup("<ins>%s</ins>") % str(new)
        return left, right
    left_html, right_html = word_diff_html(str(old), str(new))
    return Markup(left_html), Markup(right_html)  # noqa: S704 - built from escaped parts


def _svg(svg: str) -> Any:
    from markupsafe import Markup

    return Markup(svg)  # noqa: S704 - pygal's XML writer escapes every label


# --- eval -------------------------------------------------------------------------------------


def eval_charts(run: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, str] = {}
    guard = {k.replace("_", " "): v for k, v in run["sections"]["guardrails"].items()}
    out["guardrails"] = charts.bars("Drafts failing each guardrail", guard) if any(
        guard.values()) else ""
    conv = run["sections"]["conversations"]
    if conv.get("available"):
        per = conv["metrics"]["per_trigger"]
        out["triggers"] = charts.bars(
            "Handoff recall by trigger",
            {t.replace("_", " "): (v["handed_over"] / v["cases"]) if v["cases"] else None
             for t, v in per.items()}, formatter=charts.percent, max_value=1)
    else:
        out["triggers"] = ""
    grading = run["sections"]["model_grading"]
    if grading.get("available"):
        out["grading"] = charts.bars(
            "Model-graded pass rate", {k.replace("_", " "): v["pass_rate"]
                                       for k, v in grading["summary"].items()},
            formatter=charts.percent, max_value=1)
    else:
        out["grading"] = ""
    return {k: _svg(v) for k, v in out.items()}


def render_eval_html(run: Mapping[str, Any], comparison: Mapping[str, Any] | None = None) -> str:
    cases: Sequence[Mapping[str, Any]] = run["cases"]
    failing = [c for c in cases if not c.get("passed")]
    return environment().get_template("eval.html.j2").render(
        run=run, comparison=comparison, charts=eval_charts(run), failing=failing,
        cases_by_id={c["id"]: c for c in cases})


def render_eval_markdown(run: Mapping[str, Any], comparison: Mapping[str, Any] | None = None
                         ) -> str:
    env = run["environment"]
    gate = run["gate"]
    lines = [
        f"# Eval {run['run_id']}: gate {'PASSED' if gate['passed'] else 'FAILED'}",
        "",
        f"Policy `{env['policy_version']}` · prompts {', '.join(env['prompt_versions'])} · "
        f"drafter {env['drafter']} · {sum(d['cases'] for d in env['datasets'])} cases",
        "",
        "| metric | value | minimum | |",
        "|---|---:|---:|---|",
    ]
    for check in gate["checks"]:
        mark = {"passed": "ok", "failed": "**FAILED**", "n/a": "n/a"}[check["status"]]
        lines.append(f"| {metric_label(check['metric'])} | {fmt_pct(check['value'], 1)} | "
                     f"{fmt_pct(check['minimum'])} | {mark} |")
    if gate["known_failures"]:
        lines += ["", "Known failures (left out of the gate):"]
        lines += [f"- {k['id']} {k['title']}: {k['reason']}" for k in gate["known_failures"]]
    conv = run["sections"]["conversations"]
    if not conv.get("available"):
        lines += ["", f"Support conversations: {conv['reason']}."]
    else:
        cm = conv["metrics"]
        gated = "gated" if conv.get("gated", True) else "reported, not gated"
        lines += ["", f"Support conversations ({gated}, via {conv['entry_point']}): handoff recall "
                      f"{fmt_pct(cm['conversation_handoff_recall'])}, precision "
                      f"{fmt_pct(cm['conversation_handoff_precision'])}; missed: "
                      f"{', '.join(m['id'] for m in conv['missed']) or 'none'}."]
    if comparison:
        lines += ["", f"## Compared with {comparison['baseline_run_id']}",
                  f"{len(comparison['regressions'])} regressions, "
                  f"{len(comparison['improvements'])} improvements, "
                  f"{len(comparison['changed_outputs'])} changed outputs."]
        lines += [f"- REGRESSION {r['id']} {r['title']}: {', '.join(r['checks'])}"
                  for r in comparison["regressions"][:20]]
    failing = [c for c in run["cases"] if not c.get("passed") and not c.get("known_failure")]
    if failing:
        lines += ["", "## Failing cases"]
        lines += [f"- {c['id']} {c['title']}: {'; '.join(c['failures'][:3])}" for c in failing]
    return "\n".join(lines) + "\n"


# --- kpi --------------------------------------------------------------------------------------

SPEED_LABELS = {"signal_to_card": "signal → card", "card_to_decision": "card → decision",
                "decision_to_send": "decision → send", "signal_to_send": "signal → send"}


def kpi_charts(run: Mapping[str, Any]) -> dict[str, Any]:
    overall = run["overall"]
    weeks = list(run["breakdowns"]["week"])
    while len(weeks) > 4 and not weeks[0]["handoffs"]:
        weeks.pop(0)  # before the first handoff there is nothing to show
    labels = [w["key"][5:] for w in weeks]  # "11-16": short, still sortable by eye
    out: dict[str, str] = {}
    speed = overall["speed"]
    out["speed"] = charts.grouped_bars(
        "Speed to lead (p50 and p90)", [SPEED_LABELS[k] for k in SPEED_LABELS],
        {"p50": [speed[k]["p50"] for k in SPEED_LABELS],
         "p90": [speed[k]["p90"] for k in SPEED_LABELS]},
        formatter=charts.duration, horizontal=True, width=760)
    out["speed_trend"] = charts.lines(
        "Median time by week", labels,
        {"signal → card": [w["speed"]["signal_to_card"]["p50"] for w in weeks],
         "card → decision": [w["speed"]["card_to_decision"]["p50"] for w in weeks]},
        formatter=charts.duration, width=760)
    out["decisions_trend"] = charts.grouped_bars(
        "Final decisions by week", labels,
        {"approved as-is": [w["approved"] for w in weeks],
         "edited": [w["edited"] for w in weeks],
         "rejected": [w["rejected"] for w in weeks]},
        formatter=charts.count, stacked=True, width=760)
    out["approval_vs_edit"] = charts.lines(
        "Approved as-is vs edited, by week", labels,
        {"approved as-is": [w["approve_as_is_rate"] for w in weeks],
         "edited": [w["edit_rate"] for w in weeks],
         "approved within 30 s": [w["quick_approval_rate"] for w in weeks]},
        formatter=charts.percent, max_value=1, width=760)
    routes = run["breakdowns"]["route"]
    out["sla_routes"] = charts.bars(
        "SLA attainment by route", {r["key"].replace("_", " "): r["sla_attainment"]
                                    for r in routes}, formatter=charts.percent, max_value=1)
    out["sla_trend"] = charts.lines(
        "SLA attainment by week", labels, {"met": [w["sla_attainment"] for w in weeks]},
        formatter=charts.percent, max_value=1, width=760)
    out["rejections"] = charts.bars(
        "Rejections by reason code", {r["reason_code"].replace("_", " "): r["count"]
                                      for r in run["rejections"]})
    edits = run["edits"]
    out["edit_kinds"] = charts.bars(
        "What reps change (share of edited drafts)",
        {k["kind"]: k["share"] for k in edits.get("kinds", [])}, formatter=charts.percent,
        max_value=1) if edits.get("pairs") else ""
    reps = [r for r in run["breakdowns"]["rep"] if r["decided"]]
    out["reps"] = charts.grouped_bars(
        "Approved as-is vs edited, by rep", [r["name"] for r in reps],
        {"approved as-is": [r["approve_as_is_rate"] for r in reps],
         "edited": [r["edit_rate"] for r in reps]},
        formatter=charts.percent, horizontal=True, max_value=1, width=760) if reps else ""
    support = run["support"]
    out["triggers"] = charts.bars(
        "Transfers by trigger", {t["trigger"].replace("_", " "): t["transfers"]
                                 for t in support.get("by_trigger", [])}
    ) if support.get("available") else ""
    return {k: _svg(v) for k, v in out.items()}


def render_kpi_html(run: Mapping[str, Any]) -> str:
    return environment().get_template("kpi.html.j2").render(
        run=run, charts=kpi_charts(run), speed_labels=SPEED_LABELS)


def render_kpi_markdown(run: Mapping[str, Any]) -> str:
    """The managers' summary: a few numbers, what stands out, where to look."""
    o = run["overall"]
    window = f"last {run['window']['days']} days" if run["window"]["days"] else "all time"
    lines = [f"# Handoff report ({window}, until {fmt_when(run['window']['until'])})", ""]
    if run["empty"]:
        lines += ["No handoffs in this window yet: the report fills in as leads reach reps."]
    else:
        speed = o["speed"]
        lines += [
            f"- **{o['handoffs']} handoffs**, {o['decided']} decided, {o['sent']} emails sent, "
            f"{run['funnel']['pending_approvals_now']} cards waiting now",
            f"- **SLA met {fmt_pct(o['sla_attainment'])}** ({o['sla_met']} met, "
            f"{o['sla_missed']} missed, {o['sla_open']} still open)",
            f"- **Speed to lead**: signal → card p50 "
            f"{fmt_duration(speed['signal_to_card']['p50'])}, card → decision p50 "
            f"{fmt_duration(speed['card_to_decision']['p50'])} "
            f"(p90 {fmt_duration(speed['card_to_decision']['p90'])})",
            f"- **Approved as-is {fmt_pct(o['approve_as_is_rate'])} · edited "
            f"{fmt_pct(o['edit_rate'])}** · rejected {fmt_pct(o['reject_rate'])} · escalated "
            f"{fmt_pct(o['escalation_rate'])}",
        ]
        stuck = o["send_pending"] + o["send_blocked"] + o["send_failed"]
        if stuck:
            lines.append(
                f"- **Approved but not sent: {stuck}** (retrying "
                f"{fmt_pct(o['send_pending_rate'])} · blocked {fmt_pct(o['send_blocked_rate'])}"
                f" · failed {fmt_pct(o['send_failed_rate'])}): `hitl outbox list`")
        if o["quick_approval_rate"]:
            lines.append(f"- {fmt_pct(o['quick_approval_rate'])} of as-is approvals came within "
                         "30 s of the card: check they are read, not rubber-stamped")
        if run["rejections"]:
            top = ", ".join(f"{r['reason_code']} {r['count']}" for r in run["rejections"][:3])
            lines.append(f"- Rejections: {top}")
        rec = run["recycling"]
        if rec["recycled"]:
            lines.append(f"- Recycled {rec['recycled']}, back with intent "
                         f"{rec['returned']} ({fmt_pct(rec['return_to_intent_rate'])})")
        if run["meetings"]["meetings_set"]:
            lines.append(f"- Meetings set: {run['meetings']['meetings_set']}")
        edits = run["edits"]
        if edits.get("pairs"):
            kinds = ", ".join(f"{k['kind']} ({fmt_pct(k['share'])})" for k in edits["kinds"][:3])
            drafts = "1 draft" if edits["pairs"] == 1 else f"{edits['pairs']} drafts"
            lines.append(f"- Edits: {drafts}, {edits['words_changed']['mean']} words changed on "
                         f"average; most often {kinds}")
    from reports.kpi.experiments import markdown_lines  # the A/B tests, one line each

    lines += markdown_lines(run.get("experiments"))
    support = run["support"]
    if support.get("available"):
        lines.append(f"- Support: {support['transfers']} transfers of {support['conversations']} "
                     f"conversations ({fmt_pct(support['transfer_rate'])}), time to claim p50 "
                     f"{fmt_duration(support['time_to_claim']['p50'])}")
    else:
        lines.append(f"- Support: {support['reason']}")
    from reports.kpi.csat import markdown_line  # customer satisfaction, one line

    lines += markdown_line(run.get("csat"))
    return "\n".join(lines) + "\n"
