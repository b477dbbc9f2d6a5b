"""Bar charts drawn with Pillow (already a dependency; no plotting library needed).

One chart per metric: a bar per model at the mean over seeds, a whisker of +/- one standard
deviation when there are several seeds, the value printed above each bar.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

from PIL import Image, ImageDraw, ImageFont

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
    stds: Optional[Sequence[float]] = None,
    highlight: Optional[str] = None,
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    return path
