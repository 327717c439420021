"""A line chart drawn with Pillow: what ``predict`` draws for videos on the core install.

matplotlib is an extra (training and explanation figures); a video's probabilities over
time are a few lines on fixed axes, which Pillow draws in a few milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont

__all__ = ["line_chart", "nice_ticks", "stack_charts"]

_SCALE = 2  # drawn at twice the size and scaled down: smooth lines without an anti-aliasing renderer
_GRID, _AXES, _TEXT = (225, 225, 225), (90, 90, 90), (20, 20, 20)


def nice_ticks(low: float, high: float, most: int = 8) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering ``[low, high]``."""
    span = max(high - low, 1e-9)
    step = 10 ** math.floor(math.log10(span / most))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= most:
            step *= factor
            break
    first = math.ceil(low / step - 1e-9)
    return [round(i * step, 10) for i in range(first, math.floor(high / step + 1e-9) + 1)]


def line_chart(x: Sequence[float], series: Mapping[str, Sequence[float]], colours: Mapping[str, tuple[int, int, int]],
               *, title: str, xlabel: str, ylabel: str, ylim: tuple[float, float] = (0.0, 1.0),
               size: tuple[int, int] = (1200, 420), empty_note: str = "no data") -> Image.Image:
    """One line per entry of ``series`` over ``x``; the legend in a column right of the axes,
    where it never covers a line."""
    s = _SCALE
    width, height = size[0] * s, size[1] * s
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font, title_font = ImageFont.load_default(size=13 * s), ImageFont.load_default(size=15 * s)  # Pillow >= 10.1
    legend_width = max([draw.textlength(name, font=font) for name in series] + [0.0]) + 40 * s
    left, right, top, bottom = 62 * s, width - legend_width - 20 * s, 40 * s, height - 48 * s
    x_low, x_high = (min(x), max(x)) if x else (0.0, 1.0)
    if x_high <= x_low:
        x_low, x_high = x_low - 0.5, x_high + 0.5

    def px(value: float) -> float:
        return left + (value - x_low) / (x_high - x_low) * (right - left)

    def py(value: float) -> float:
        return bottom - (value - ylim[0]) / (ylim[1] - ylim[0]) * (bottom - top)

    for tick in nice_ticks(*ylim, most=5):
        draw.line([(left, py(tick)), (right, py(tick))], fill=_GRID, width=s)
        draw.text((left - 8 * s, py(tick)), f"{tick:g}", fill=_TEXT, font=font, anchor="rm")
    for tick in nice_ticks(x_low, x_high):
        draw.line([(px(tick), top), (px(tick), bottom)], fill=_GRID, width=s)
        draw.text((px(tick), bottom + 6 * s), f"{tick:g}", fill=_TEXT, font=font, anchor="mt")
    draw.rectangle([left, top, right, bottom], outline=_AXES, width=s)
    draw.text(((left + right) / 2, 12 * s), title, fill=_TEXT, font=title_font, anchor="mt")
    draw.text(((left + right) / 2, height - 8 * s), xlabel, fill=_TEXT, font=font, anchor="mb")
    label = Image.new("RGB", (int(draw.textlength(ylabel, font=font)) + 4, 18 * s), "white")
    ImageDraw.Draw(label).text((2, 0), ylabel, fill=_TEXT, font=font)
    image.paste(label.rotate(90, expand=True), (4 * s, int((top + bottom - label.width) / 2)))
    if not x:
        draw.text(((left + right) / 2, (top + bottom) / 2), empty_note, fill=_AXES, font=font, anchor="mm")
    for row, (name, values) in enumerate(series.items()):
        colour = colours.get(name, (0, 0, 0))
        points = [(px(a), py(b)) for a, b in zip(x, values)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2 * s, joint="curve")
        elif points:
            (cx, cy), r = points[0], 3 * s
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        y = top + row * 20 * s + 10 * s
        draw.line([(right + 14 * s, y), (right + 32 * s, y)], fill=colour, width=3 * s)
        draw.text((right + 38 * s, y), name, fill=_TEXT, font=font, anchor="lm")
    return image.resize(size, Image.Resampling.LANCZOS)


def stack_charts(charts: Sequence[Image.Image]) -> Image.Image:
    """Charts one above the other (e.g. a panel per face of a video), as one picture."""
    if not charts:
        raise ValueError("no chart to stack")
    stacked = Image.new("RGB", (max(c.width for c in charts), sum(c.height for c in charts)), "white")
    top = 0
    for chart in charts:
        stacked.paste(chart, (0, top))
        top += chart.height
    return stacked
