"""Small inline SVG charts for the reports (pygal: pure Python, no JavaScript, no remote assets).

Every function returns an `<svg>` string ready to drop into the HTML; labels are escaped by
pygal's XML writer. Empty data gives an empty string, so templates can show "no data" instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

Formatter = Callable[[float], str]

PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777",
           "#4b5563")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# pygal always inlines a config <script> for its (remote, unused) tooltip JS: the pages run no
# script at all, so it goes.
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)


def percent(value: float) -> str:
    return f"{value:.0%}"


def count(value: float) -> str:
    return f"{value:,.0f}"


def duration(seconds: float) -> str:
    """ "0.4s", "45s", "2.5m", "12m", "3.5h", "2.1d": a decimal where it tells values apart."""
    if seconds is None:
        return ""
    value = float(seconds)
    if value == 0:
        return "0s"
    if value < 10:
        return f"{value:.1f}s"
    if value < 90:
        return f"{value:.0f}s"
    if value < 600:
        return f"{value / 60:.1f}m"
    if value < 90 * 60:
        return f"{value / 60:.0f}m"
    if value < 36 * 3600:
        return f"{value / 3600:.1f}h"
    return f"{value / 86400:.1f}d"


@cache
def _style() -> Any:
    from pygal.style import Style

    return Style(
        background="transparent", plot_background="transparent",
        foreground="#1f2937", foreground_strong="#111827", foreground_subtle="#e5e7eb",
        opacity="0.9", opacity_hover="1", transition="0s", colors=PALETTE,
        font_family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
        label_font_size=12, major_label_font_size=12, value_font_size=11,
        title_font_size=14, legend_font_size=12, tooltip_font_size=12,
        guide_stroke_color="#e5e7eb", major_guide_stroke_color="#d1d5db",
        guide_stroke_dasharray="3,3", major_guide_stroke_dasharray="3,3",
    )


def _config(chart_class: Any, *, title: str, width: int, height: int,
            formatter: Formatter, legend: bool, **extra: Any) -> Any:
    if legend:
        # pygal places a bottom legend on the chart's last pixel row; leave it room.
        extra.setdefault("margin_bottom", 30)
    return chart_class(
        title=title or None, width=width, height=height, style=_style(), js=[],
        disable_xml_declaration=True, show_legend=legend, legend_at_bottom=True,
        legend_at_bottom_columns=4, value_formatter=formatter, print_values=True,
        print_values_position="top", print_zeroes=False, margin=8, spacing=8,
        truncate_label=-1, truncate_legend=-1, show_y_guides=True, show_x_guides=False,
        **extra,
    )


def _render(chart: Any) -> str:
    svg = chart.render(is_unicode=True)
    return _SCRIPT.sub("", _COMMENT.sub("", svg))


def bars(title: str, values: Mapping[str, float | None], *, formatter: Formatter = count,
         horizontal: bool = True, width: int = 760, max_value: float | None = None) -> str:
    """One series of bars, one per label (horizontal by default: long labels stay readable)."""
    items = [(k, v) for k, v in values.items() if v is not None]
    if not items:
        return ""
    import pygal

    cls = pygal.HorizontalBar if horizontal else pygal.Bar
    height = max(140, 46 + 30 * len(items)) if horizontal else 300
    if horizontal:
        items.reverse()  # pygal draws the first label at the bottom; read top-down instead
    extra: dict[str, Any] = {}
    if max_value is not None:
        extra["range"] = (0, max_value)
    top = max(v for _, v in items)
    if formatter is count and top <= 10:
        extra["y_labels"] = list(range(0, int(top) + 2))  # whole numbers only
    chart = _config(cls, title=title, width=width, height=height, formatter=formatter,
                    legend=False, **extra)
    chart.x_labels = [k for k, _ in items]
    chart.add(title or "value", [{"value": v, "label": k} for k, v in items])
    return _render(chart)


def grouped_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]],
                 *, formatter: Formatter = count, horizontal: bool = False, width: int = 640,
                 height: int = 300, max_value: float | None = None,
                 stacked: bool = False) -> str:
    """Several series side by side (or stacked) over the same labels."""
    if not labels or not any(v is not None for vals in series.values() for v in vals):
        return ""
    import pygal

    if stacked:
        cls = pygal.HorizontalStackedBar if horizontal else pygal.StackedBar
    else:
        cls = pygal.HorizontalBar if horizontal else pygal.Bar
    extra: dict[str, Any] = {}
    if max_value is not None:
        extra["range"] = (0, max_value)
    columns = [[v or 0 for v in values] for values in series.values()]
    top = max(map(sum, zip(*columns, strict=True))) if stacked else max(map(max, columns))
    if formatter is count and top <= 12:
        extra["y_labels"] = list(range(0, int(top) + 2))  # whole numbers only
    if horizontal:
        height = max(height, 60 + 24 * len(labels) * (1 if stacked else len(series)))
    chart = _config(cls, title=title, width=width, height=height, formatter=formatter,
                    legend=True, **extra)
    if stacked:
        chart.config.print_values = False
    order = list(reversed(range(len(labels)))) if horizontal else list(range(len(labels)))
    chart.x_labels = [labels[i] for i in order]
    for name, values in series.items():
        chart.add(name, [list(values)[i] for i in order])
    return _render(chart)


def lines(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
          formatter: Formatter = count, width: int = 640, height: int = 280,
          max_value: float | None = None) -> str:
    """Trends over time (weeks); gaps where a week has no data."""
    if len(labels) < 2 or not any(v is not None for vals in series.values() for v in vals):
        return ""
    import pygal

    extra: dict[str, Any] = {"allow_interruptions": True, "show_dots": True, "dots_size": 3,
                             "x_label_rotation": 0, "include_x_axis": True}
    if max_value is not None:
        extra["range"] = (0, max_value)
    chart = _config(pygal.Line, title=title, width=width, height=height, formatter=formatter,
                    legend=len(series) > 1, **extra)
    chart.config.print_values = False
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _render(chart)
