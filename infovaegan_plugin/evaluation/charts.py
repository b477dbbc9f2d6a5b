"""Bar charts drawn with Pillow (already a dependency; no plotting library needed).

One chart per metric: a bar per model at the mean over seeds, a whisker of +/- one standard
deviation when there are several seeds, the value printed above each bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..atomic import save_picture

WIDTH, HEIGHT = 760, 400
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 50, 60
HIGHLIGHT = (200, 60, 40)  # the model of this package
BAR = (70, 110, 170)
AXIS = (40, 40, 40)
GRID = (225, 225, 225)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _nice_ticks(low: float, high: float, count: int = 5) -> list:
    span = high - low if high > low else 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _fmt(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return f"{value:.2e}"


def bar_chart(
    path: Path,
    title: str,
    labels: Sequence[str],
    means: Sequence[float],
    stds: Sequence[float] | None = None,
    highlight: str | None = None,
) -> Path:
    """Write a PNG bar chart; ``highlight`` names the bar drawn in the accent colour."""
    if len(labels) != len(means) or not labels:
        raise ValueError("a bar chart needs one mean per label, and at least one bar.")
    stds = list(stds) if stds is not None else [0.0] * len(means)
    finite = [m for m in means if math.isfinite(m)]
    tops = [m + s for m, s in zip(means, stds) if math.isfinite(m + s)] or [1.0]
    low = min([0.0, *finite, *[m - s for m, s in zip(means, stds) if math.isfinite(m - s)]])
    high = max([*tops, low + 1e-9]) * 1.12 if max(tops) > 0 else 0.0
    ticks = _nice_ticks(low, high)
    low, high = min(ticks[0], low), max(ticks[-1], high)
    if high <= low:  # every value 0 (e.g. all refused or empty): an axis of unit height
        high = low + 1.0

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    small, big = _font(12), _font(16)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - (value - low) / (high - low))

    draw.text((WIDTH / 2, 18), title, fill=AXIS, font=big, anchor="mm")
    for tick in ticks:
        y = y_of(tick)
        draw.line([(MARGIN_LEFT, y), (WIDTH - MARGIN_RIGHT, y)], fill=GRID)
        draw.text((MARGIN_LEFT - 6, y), _fmt(tick), fill=AXIS, font=small, anchor="rm")
    slot = plot_w / len(labels)
    zero = y_of(0.0)
    for i, (label, mean, std) in enumerate(zip(labels, means, stds)):
        left = MARGIN_LEFT + i * slot + slot * 0.18
        right = MARGIN_LEFT + (i + 1) * slot - slot * 0.18
        centre = (left + right) / 2
        draw.text((centre, HEIGHT - MARGIN_BOTTOM + 14), label, fill=AXIS, font=small, anchor="mm")
        if not math.isfinite(mean):
            draw.text((centre, zero - 10), "n/a", fill=AXIS, font=small, anchor="mm")
            continue
        colour = HIGHLIGHT if label == highlight else BAR
        draw.rectangle([left, min(zero, y_of(mean)), right, max(zero, y_of(mean))], fill=colour)
        if std > 0:
            draw.line([(centre, y_of(mean - std)), (centre, y_of(mean + std))], fill=AXIS, width=2)
            for v in (mean - std, mean + std):
                draw.line([(centre - 6, y_of(v)), (centre + 6, y_of(v))], fill=AXIS, width=2)
        text_y = y_of(max(mean, mean + std)) - 9
        draw.text((centre, text_y), _fmt(mean), fill=AXIS, font=small, anchor="mm")
    draw.line([(MARGIN_LEFT, MARGIN_TOP), (MARGIN_LEFT, HEIGHT - MARGIN_BOTTOM)], fill=AXIS)
    draw.line([(MARGIN_LEFT, zero), (WIDTH - MARGIN_RIGHT, zero)], fill=AXIS)
    return save_picture(image, path, optimize=True)


PALETTE = [(200, 60, 40), (70, 110, 170), (60, 150, 80), (150, 90, 170), (220, 150, 40),
           (90, 90, 90), (40, 170, 170), (170, 120, 90)]
#: dash and gap of the lines of the series past the palette (they reuse its colours)
DASH = (7, 5)


def _line(draw: ImageDraw.ImageDraw, points: Sequence[tuple], colour: tuple, width: int,
          dashed: bool) -> None:
    """A polyline, solid or dashed (the dash pattern runs on across the vertices)."""
    if not dashed:
        draw.line(points, fill=colour, width=width)
        return
    on, off = DASH
    phase = 0.0  # distance into the current dash + gap period
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        done = 0.0
        while done < length:
            left = (on - phase) if phase < on else (on + off - phase)
            step = min(left, length - done)
            if phase < on:
                a, b = done / length, (done + step) / length
                draw.line([(x0 + a * (x1 - x0), y0 + a * (y1 - y0)),
                           (x0 + b * (x1 - x0), y0 + b * (y1 - y0))], fill=colour, width=width)
            done += step
            phase = (phase + step) % (on + off)


def legend_columns(labels: Sequence[str], font, width: float) -> int:
    """Legend entries per row (at most 3): as many as fit ``width`` with the widest label, its
    24 px swatch and a gap, so long labels take a row each instead of overlapping."""
    widest = max(font.getlength(label) for label in labels) + 30 + 16
    return max(1, min(3, int(width // widest)))


def line_chart(
    path: Path,
    title: str,
    series: Sequence[tuple],
    x_label: str = "epoch",
    y_range: tuple = (0.0, 1.0),
    reference: float | None = None,
) -> Path:
    """Write a PNG line chart; ``series`` holds ``(label, xs, ys)`` tuples, one colour each
    (past the palette's 8 the colours repeat with dashed lines; the legend sits under the
    plot); ``reference`` draws a dashed horizontal line."""
    if not series or any(len(xs) != len(ys) or not xs for _, xs, ys in series):
        raise ValueError("a line chart needs at least one series with as many x as y values.")
    low, high = y_range
    small, big = _font(12), _font(16)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    columns = legend_columns([str(label) for label, _, _ in series], small, plot_w)
    legend_rows = math.ceil(len(series) / columns)
    height = HEIGHT + 18 * legend_rows
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    x_max = max(max(xs) for _, xs, _ in series)
    x_min = min(min(xs) for _, xs, _ in series)
    x_span = (x_max - x_min) or 1.0

    def at(x: float, y: float) -> tuple:
        clipped = min(max(y, low), high)
        return (MARGIN_LEFT + plot_w * (x - x_min) / x_span,
                MARGIN_TOP + plot_h * (1 - (clipped - low) / (high - low)))

    draw.text((WIDTH / 2, 18), title, fill=AXIS, font=big, anchor="mm")
    for tick in _nice_ticks(low, high):
        if low <= tick <= high:
            y = at(x_min, tick)[1]
            draw.line([(MARGIN_LEFT, y), (WIDTH - MARGIN_RIGHT, y)], fill=GRID)
            draw.text((MARGIN_LEFT - 6, y), _fmt(tick), fill=AXIS, font=small, anchor="rm")
    for x in sorted({x for _, xs, _ in series for x in xs}):
        draw.text((at(x, low)[0], HEIGHT - MARGIN_BOTTOM + 12), f"{x:g}", fill=AXIS, font=small,
                  anchor="mm")
    draw.text((WIDTH / 2, HEIGHT - MARGIN_BOTTOM + 30), x_label, fill=AXIS, font=small, anchor="mm")
    if reference is not None:
        y = at(x_min, reference)[1]
        for x0 in range(MARGIN_LEFT, WIDTH - MARGIN_RIGHT, 12):
            draw.line([(x0, y), (x0 + 6, y)], fill=AXIS)
    for i, (label, xs, ys) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        dashed = (i // len(PALETTE)) % 2 == 1
        points = [at(x, y) for x, y in zip(xs, ys)]
        if len(points) > 1:
            _line(draw, points, colour, 2, dashed)
        for px, py in points:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        lx = MARGIN_LEFT + (i % columns) * (plot_w / columns)
        ly = HEIGHT - 8 + 18 * (i // columns)
        _line(draw, [(lx, ly), (lx + 24, ly)], colour, 3, dashed)
        draw.text((lx + 30, ly), str(label), fill=AXIS, font=small, anchor="lm")
    draw.line([(MARGIN_LEFT, MARGIN_TOP), (MARGIN_LEFT, HEIGHT - MARGIN_BOTTOM)], fill=AXIS)
    draw.line([(MARGIN_LEFT, HEIGHT - MARGIN_BOTTOM), (WIDTH - MARGIN_RIGHT, HEIGHT - MARGIN_BOTTOM)],
              fill=AXIS)
    return save_picture(image, path, optimize=True)
