"""The bench's figures: goals, pass/fail, the human table and the machine JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from agent import stats

# key -> (comparison, goal); None: reported for context, judged through another key.
GOALS: dict[str, tuple[str, float] | None] = {
    "ingest_events_per_s": (">=", 2000),
    "card_overhead_ms_p50": ("<=", 50),
    "card_overhead_ms_p99": ("<=", 250),
    "llm_overhead_ratio": ("<=", 0.05),
    "concurrency_speedup": (">=", 20),
    "slack_ack_ms_p99": ("<=", 100),
    "prompt_tokens": None,
    "raw_prompt_tokens": None,
    "prompt_tokens_ratio_vs_raw": (">=", 10),
    "top_signal_recall": (">=", 1.0),
    "rss_mb_peak": ("<=", 400),
    "cold_start_s": ("<=", 5),
    "first_card_s": ("<=", 1),
    "cold_start_uncached_s": None,
    "isolation_healthz_ms_p99": ("<=", 100),
    "isolation_events_ms_p99": ("<=", 500),
    "isolation_slack_ack_ms_p99": ("<=", 1000),
    "calibration_s": None,
    "cpu_ms_per_lead": None,
    "cpu_per_lead_in_calibrations": ("<=", 18),
}
KEYS = tuple(GOALS)


@dataclass
class Figure:
    key: str
    value: float | None
    method: str
    naive: float | None = None
    naive_label: str = ""

    @property
    def goal(self) -> tuple[str, float] | None:
        return GOALS.get(self.key)

    @property
    def passed(self) -> bool | None:
        if self.goal is None or self.value is None or math.isnan(self.value):
            return None if self.goal is None else False
        op, target = self.goal
        return self.value >= target if op == ">=" else self.value <= target


@dataclass
class BenchReport:
    figures: dict[str, Figure] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, value: float | None, method: str, *, naive: float | None = None,
            naive_label: str = "") -> None:
        self.figures[key] = Figure(key, None if value is None else float(value), method, naive,
                                   naive_label)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks[name] = {"ok": bool(ok), "detail": detail}

    @property
    def ok(self) -> bool:
        """Every correctness check held (goals are reported, not enforced)."""
        return all(c["ok"] for c in self.checks.values())

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in KEYS:
            figure = self.figures.get(key)
            out[key] = _round(figure.value) if figure else None
        out["goals"] = {k: ({"op": g[0], "value": g[1]} if g else None) for k, g in GOALS.items()}
        out["passed"] = {k: (f.passed if (f := self.figures.get(k)) else False) for k in KEYS}
        out["naive"] = {k: {"value": _round(f.naive), "what": f.naive_label}
                        for k in KEYS if (f := self.figures.get(k)) and f.naive is not None}
        out["methods"] = {k: f.method for k in KEYS if (f := self.figures.get(k))}
        out["checks"] = self.checks
        out["details"] = self.details
        out["config"] = self.config
        out["notes"] = self.notes
        return out

    def to_json(self) -> str:
        return json.dumps(self.as_json(), indent=2, default=str)

    def render(self, console: Any) -> None:
        from rich.table import Table

        table = Table(title="hitl bench: " + self.config.get("topology", ""), show_lines=False)
        for column, justify in (("key", "left"), ("value", "right"), ("naive baseline", "right"),
                                ("goal", "right"), ("", "center")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for key in KEYS:
            figure = self.figures.get(key)
            goal = GOALS[key]
            value = _fmt(figure.value) if figure else "—"
            naive = (f"{_fmt(figure.naive)} ({figure.naive_label})"
                     if figure and figure.naive is not None else "—")
            verdict = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: ""}[
                figure.passed if figure else (False if goal else None)]
            table.add_row(key, value, naive, f"{goal[0]} {_fmt(goal[1])}" if goal else "",
                          verdict)
        console.print(table)
        if self.checks:
            console.print("[bold]Correctness checks[/]")
            for name, check in self.checks.items():
                mark = "[green]ok[/]" if check["ok"] else "[red]FAILED[/]"
                console.print(f"  {mark} {name}: {check['detail']}")
        console.print("[bold]Method per figure[/]")
        for key in KEYS:
            if (figure := self.figures.get(key)) is not None:
                console.print(f"  [cyan]{key}[/]: {figure.method}")
        for note in self.notes:
            console.print(f"[yellow]note:[/] {note}")


def _round(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, 4) if abs(value) < 10 else round(value, 1)


def _fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}".rstrip("0").rstrip(".") if value else "0"


def percentile(values: list[float], q: float) -> float:
    """`agent.stats.percentile` on the bench's scale: q in 0..100, NaN when there are none."""
    found = stats.percentile(values, q / 100)
    return float("nan") if found is None else found
