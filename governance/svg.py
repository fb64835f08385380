"""Charts (the hub's chart contract, registry/charts.py) drawn as static SVG for the
printable report and its PDF: the PDF engine runs no JavaScript, so no Chart.js. Lines for
{x, y} series, bars for category series. Pure: no Django."""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 26, 40
# Print-friendly colours, one per dataset in order (the screen palette lives in charts.js).
COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6")


def _bounds(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low == high:
        low, high = low - 1, high + 1
    return min(low, 0.0) if low >= 0 else low, high


def _points(dataset: dict[str, Any]) -> list[tuple[float, float]]:
    out = []
    for i, point in enumerate(dataset.get("data", [])):
        if isinstance(point, dict):
            x, y = point.get("x"), point.get("y")
        else:
            x, y = i, point
        if isinstance(x, int | float) and isinstance(y, int | float):
            out.append((float(x), float(y)))
    return out


def _frame(chart: dict[str, Any], x_range: tuple, y_range: tuple) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999" stroke-width="1"/>',
        f'<text x="{WIDTH / 2}" y="14" text-anchor="middle" font-size="12" '
        f'font-weight="bold">{escape(chart.get("title", ""))}</text>',
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle" '
        f'font-size="10">{escape(chart.get("x_title", ""))}</text>',
        f'<text x="12" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="10" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2})">{escape(chart.get("y_title", ""))}</text>',
    ]
    for value, y in ((y_range[0], TOP + plot_h), (y_range[1], TOP)):
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 3}" text-anchor="end" font-size="9">{value:.3g}</text>'
        )
    if x_range is not None:
        for value, x in ((x_range[0], LEFT), (x_range[1], LEFT + plot_w)):
            parts.append(
                f'<text x="{x}" y="{TOP + plot_h + 12}" text-anchor="middle" '
                f'font-size="9">{value:.3g}</text>'
            )
    return parts


def _legend(datasets: list[dict[str, Any]]) -> list[str]:
    parts, x = [], LEFT
    for i, dataset in enumerate(datasets):
        label = escape(str(dataset.get("label", "")))[:40]
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="{HEIGHT - 24}" width="8" height="8" fill="{colour}"/>')
        parts.append(f'<text x="{x + 11}" y="{HEIGHT - 17}" font-size="9">{label}</text>')
        x += 16 + 6 * len(label)
    return parts


def _scaler(x_range: tuple[float, float], y_range: tuple[float, float]):
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def at(x: float, y: float) -> tuple[float, float]:
        px = LEFT + (x - x_range[0]) / (x_range[1] - x_range[0]) * plot_w
        py = TOP + plot_h - (y - y_range[0]) / (y_range[1] - y_range[0]) * plot_h
        return px, py

    return at


def _series_svg(points: list[tuple[float, float]], colour: str, at, scatter: bool) -> list[str]:
    placed = [at(x, y) for x, y in points]
    if scatter:
        return [
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="1.6" fill="{colour}"/>' for px, py in placed
        ]
    if not placed:
        return []
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in placed)
    return [f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>']


def _lines(chart: dict[str, Any]) -> list[str]:
    series = [_points(d) for d in chart.get("datasets", [])]
    xs = [x for s in series for x, _ in s]
    ys = [y for s in series for _, y in s]
    if not xs:
        return []
    x_range, y_range = _bounds(xs), _bounds(ys)
    at = _scaler(x_range, y_range)
    parts = _frame(chart, x_range, y_range)
    scatter = chart.get("kind") == "scatter"
    for i, points in enumerate(series):
        parts += _series_svg(points, COLOURS[i % len(COLOURS)], at, scatter)
    return parts + _legend(chart.get("datasets", []))


def _numbers(dataset: dict[str, Any]) -> list[float]:
    return [float(v) if isinstance(v, int | float) else 0.0 for v in dataset.get("data", [])]


def _bar_labels(labels: list, count: int, slot: float) -> list[str]:
    if count > 12:  # too many to read under the bars
        return []
    y = HEIGHT - BOTTOM + 12
    return [
        f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{y}" text-anchor="middle" '
        f'font-size="8">{escape(str(label))[:14]}</text>'
        for i, label in enumerate(labels[:count])
    ]


def _bars(chart: dict[str, Any]) -> list[str]:
    datasets = chart.get("datasets", [])
    values = [_numbers(d) for d in datasets]
    flat = [v for vs in values for v in vs]
    if not flat:
        return []
    y_range = _bounds([*flat, 0.0])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(vs) for vs in values)
    slot = plot_w / count
    bar = slot * 0.8 / len(values)
    scale = plot_h / (y_range[1] - y_range[0])
    zero = TOP + plot_h + y_range[0] * scale
    parts = _frame(chart, None, y_range)
    for d, vs in enumerate(values):
        colour = COLOURS[d % len(COLOURS)]
        for i, v in enumerate(vs):
            x = LEFT + i * slot + slot * 0.1 + d * bar
            top = zero - max(v, 0.0) * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar:.1f}" height="{abs(v) * scale:.1f}" '
                f'fill="{colour}"/>'
            )
    return parts + _bar_labels(chart.get("labels") or [], count, slot) + _legend(datasets)


LINE_KINDS = ("roc", "pr", "calibration", "timeseries", "scatter")


def chart_svg(chart: dict[str, Any]) -> str:
    """The chart as an <svg> element (empty string when it has no data)."""
    if chart.get("kind") in LINE_KINDS and any(
        isinstance(p, dict) for d in chart.get("datasets", []) for p in d.get("data", [])
    ):
        parts = _lines(chart)
    else:
        parts = _bars(chart)
    if not parts:
        return ""
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(chart.get("title", ""))}">{body}</svg>'
    )
