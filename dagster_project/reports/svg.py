"""Inline SVG charts for the printed reports: no scripts, no fonts or files from outside, print-friendly."""

import math
from html import escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40
COLORS = ("#1f6fb2", "#e07b00", "#2e9e44", "#b23a48")


def _nice_ceiling(value: float) -> float:
    """The axis top: the smallest 1, 2 or 5 × 10^k at or above the value; five ticks then land on round numbers."""
    if value <= 0:
        return 0.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


def _axis_ticks(maximum: float, count: int) -> list[float]:
    if maximum <= 0:
        return [0.0]
    return [maximum * index / count for index in range(count + 1)]


def _tick_label(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f} %"
    return f"{value:,.0f}".replace(",", "\u202f")


def _frame(labels: list[str], maximum: float, percent: bool, tick_count: int) -> list[str]:
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = []
    for tick in _axis_ticks(maximum, tick_count):
        y = TOP + plot_height - (tick / maximum * plot_height if maximum else 0)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{_tick_label(tick, percent)}</text>'
        )
    step = plot_width / max(len(labels), 1)
    for index, label in enumerate(labels):
        x = LEFT + step * (index + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11">{escape(label)}</text>'
        )
    return parts


def bar_chart(title: str, labels: list[str], values: list[float | None], highlight_last: bool = True) -> str:
    """Vertical bars, one per label; the last bar (the report month) is highlighted."""
    maximum = _nice_ceiling(max([value for value in values if value is not None] or [0]) * 1.05)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_width / max(len(labels), 1)
    parts = _frame(labels, maximum, percent=False, tick_count=5)
    for index, value in enumerate(values):
        if value is None or not maximum:
            continue
        height = value / maximum * plot_height
        x = LEFT + step * index + step * 0.15
        color = COLORS[1] if highlight_last and index == len(values) - 1 else COLORS[0]
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_height - height:.1f}" width="{step * 0.7:.1f}" '
            f'height="{height:.1f}" fill="{color}"><title>{escape(labels[index])}: {value:,.0f}</title></rect>'
        )
        parts.append(
            f'<text x="{x + step * 0.35:.1f}" y="{TOP + plot_height - height - 4:.1f}" text-anchor="middle" '
            f'font-size="10">{_tick_label(value, False)}</text>'
        )
    return _svg(title, parts)


def line_chart(title: str, labels: list[str], series: dict[str, list[float | None]]) -> str:
    """Lines of shares (0–1) over the labels, with a legend; gaps where a value is missing."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_width / max(len(labels), 1)
    parts = _frame(labels, 1.0, percent=True, tick_count=4)
    for series_index, (name, values) in enumerate(series.items()):
        color = COLORS[series_index % len(COLORS)]
        segment: list[str] = []
        for index, value in enumerate([*values, None]):
            if value is None:
                if len(segment) > 1:
                    parts.append(
                        f'<polyline points="{" ".join(segment)}" fill="none" stroke="{color}" stroke-width="2"/>'
                    )
                segment = []
                continue
            x, y = LEFT + step * (index + 0.5), TOP + plot_height - value * plot_height
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(name)}, '
                f"{escape(labels[index])}: {value * 100:.1f} %</title></circle>"
            )
        legend_x = LEFT + 8 + series_index * 200
        parts.append(f'<rect x="{legend_x}" y="{TOP}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{legend_x + 18}" y="{TOP + 10}" font-size="11">{escape(name)}</text>')
    return _svg(title, parts)


def _svg(title: str, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" font-family="DejaVu Sans, Arial, sans-serif">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )
