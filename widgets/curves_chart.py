"""The live training curves as inline SVG: loss, next-token accuracy / perplexity, and learning rate.

The monitor redraws its curves at every refresh while a run trains, so drawing must cost next to nothing:
building these few hundred bytes of SVG takes about a millisecond, where a matplotlib PNG took a tenth of a
second holding the GIL (and no live-plot widget is among the project's dependencies). Written by hand for
that reason: polylines for the series, nice ticks, a legend in HTML that wraps instead of overlapping. The
colours are classes of the panels' stylesheet (`widgets/shared/style.py`), which map them to JupyterLab's
`--jp-*` variables, so the charts follow the Light and Dark themes, and the panel's static snapshot shows
them too.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from widgets.training_curves import Curves, smooth

WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 50, 50, 8, 34  # room for the tick labels (right: the perplexity axis)
MAX_POINTS = 400  # a long run's series are thinned to about this many points: the SVG stays small
MAX_MARKERS = 60
EMPTY = "no steps logged yet"

TickLabel = Callable[[float, float | None], str]  # a tick's value and the ticks' spacing (None on a log scale)


def _round_step(raw: float) -> float:
    """The round spacing (1, 2 or 5 times a power of ten) nearest above `raw`."""
    if raw <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * 0.999)


def _number(value: float, step: float | None) -> str:
    """A tick label: as many decimals as the spacing needs; very small or large values in short scientific form."""
    if value == 0:
        return "0"
    if step is None or step < 1e-3 or abs(value) >= 1e5:
        return f"{value:.3g}"
    return f"{value:.{max(0, math.ceil(-math.log10(step) - 1e-9))}f}"


def _percent(value: float, step: float | None) -> str:
    return _number(value * 100, step * 100 if step else None) + "%"


@dataclass(frozen=True)
class Scale:
    """Maps values in [low, high] to pixels in [start, end], linearly or on a log scale."""

    low: float
    high: float
    start: float
    end: float
    log: bool = False

    def __call__(self, value: float) -> float:
        convert = math.log10 if self.log else float
        low, high = convert(self.low), convert(self.high)
        return self.start + (convert(value) - low) / (high - low) * (self.end - self.start)

    def ticks(self) -> tuple[list[float], float | None]:
        """About five round values inside the scale, and their spacing (None for powers of ten on a log scale)."""
        if self.log:
            decades = range(math.floor(math.log10(self.low)), math.ceil(math.log10(self.high)) + 1)
            for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
                values = [m * 10.0**d for d in decades for m in mantissas if self.low <= m * 10.0**d <= self.high]
                if len(values) >= 3:
                    return values, None
        step = _round_step((self.high - self.low) / 4)
        first, last = math.ceil(self.low / step - 1e-9), math.floor(self.high / step + 1e-9)
        return [i * step for i in range(first, last + 1)], step


@dataclass(frozen=True)
class Line:
    """One series of a chart: its points, its class in the stylesheet (the colour) and its markers."""

    css: str
    steps: Sequence[int]
    values: Sequence[float]
    marker: str = ""  # "", "circle", "square" or "star"


@dataclass(frozen=True)
class Axis:
    """A vertical axis: its lines, its scale kind and how its tick labels read."""

    lines: list[Line]
    log: bool = False
    label: TickLabel = _number
    css: str = ""  # the class of its tick labels (a second axis takes the colour of its line)


def curves_html(curves: Curves, *, total_steps: int, smoothing: float, log_scale: bool) -> str:
    """The three charts of `curves`, with the step axis running to `total_steps` (the curve grows into it)."""
    smoothed = smooth(curves.train_loss, smoothing)
    best = [curves.best_step] if curves.best_loss is not None else []
    loss = Axis(
        [
            Line("ck-series-train ck-faint", curves.train_steps, curves.train_loss),
            Line("ck-series-train", curves.train_steps, smoothed),
            Line("ck-series-validation", curves.eval_steps, curves.eval_loss, "circle"),
            Line("ck-series-best", best, [curves.best_loss] if best else [], "star"),
        ],
        log=log_scale,
    )
    accuracy = Axis([Line("ck-series-accuracy", curves.eval_steps, curves.accuracy, "circle")], label=_percent)
    perplexity = Axis(
        [Line("ck-series-perplexity ck-dashed", curves.eval_steps, curves.perplexity, "square")],
        log=log_scale,
        css="ck-series-perplexity",
    )
    rate = Axis([Line("ck-series-lr", curves.train_steps, curves.learning_rate)])
    last = max([*curves.train_steps, *curves.eval_steps, total_steps, 1])
    keys = {
        "loss": [("ck-series-train", "train"), ("ck-series-validation", "validation")]
        + ([("ck-series-best ck-star", "best checkpoint")] if best else []),
        "next-token accuracy / perplexity": [
            ("ck-series-accuracy", "accuracy (left)"),
            ("ck-series-perplexity ck-dashed", "perplexity (right)"),
        ],
        "learning rate": [],
    }
    charts = zip(keys.items(), ([loss], [accuracy, perplexity], [rate]), strict=True)
    return "".join(_chart(title, legend, axes, last) for (title, legend), axes in charts)


def _chart(title: str, legend: list[tuple[str, str]], axes: list[Axis], last_step: int) -> str:
    x = Scale(0, last_step, LEFT, WIDTH - RIGHT)
    parts = [f"<path class='ck-frame' d='M{LEFT},{TOP}V{HEIGHT - BOTTOM}H{WIDTH - RIGHT}'/>"]
    x_ticks, x_step = x.ticks()
    for value in x_ticks:
        parts.append(_text(x(value), HEIGHT - BOTTOM + 14, _number(value, x_step), "middle"))
    parts.append(_text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 4, "step", "middle"))
    has_data = False
    for side, axis in enumerate(axes):
        points = [(s, v) for line in axis.lines for s, v in zip(line.steps, line.values, strict=True)]
        y = _value_scale([v for _, v in points], axis.log)
        has_data = has_data or bool(points)
        ticks, step = y.ticks()
        edge, anchor = (LEFT - 5, "end") if side == 0 else (WIDTH - RIGHT + 5, "start")
        for value in ticks:
            if side == 0:
                parts.append(f"<path class='ck-gridline' d='M{LEFT},{y(value):.1f}H{WIDTH - RIGHT}'/>")
            parts.append(_text(edge, y(value) + 4, axis.label(value, step), anchor, axis.css))
        parts += [_line(line, x, y) for line in axis.lines]
    if not has_data:
        parts.append(_text((LEFT + WIDTH - RIGHT) / 2, (TOP + HEIGHT - BOTTOM) / 2, EMPTY, "middle"))
    keys = "".join(f"<span class='ck-key {css}'>{html.escape(label)}</span>" for css, label in legend)
    return (
        f"<figure class='ck-chart'><figcaption><b>{html.escape(title)}</b>{keys}</figcaption>"
        f"<svg viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='{html.escape(title)} by step'>"
        f"{''.join(parts)}</svg></figure>"
    )


def _value_scale(values: list[float], log: bool) -> Scale:
    """A vertical scale over the finite `values` (positive ones on a log scale), with a little room around."""
    shown = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    low, high = (min(shown), max(shown)) if shown else (1.0, 10.0) if log else (0.0, 1.0)
    if log:
        low, high = (low / 2, high * 2) if low == high else (low / (high / low) ** 0.05, high * (high / low) ** 0.05)
    else:
        pad = (high - low) * 0.05 or abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    return Scale(low, high, HEIGHT - BOTTOM, TOP, log)


def _line(line: Line, x: Scale, y: Scale) -> str:
    """The series as a polyline (thinned to about MAX_POINTS), with its markers; unplottable values left out."""
    points = [
        (x(s), y(v)) for s, v in zip(line.steps, line.values, strict=True) if math.isfinite(v) and (v > 0 or not y.log)
    ]
    if not points:
        return ""
    stride = math.ceil(len(points) / MAX_POINTS)
    thinned = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    drawn = ""
    if len(thinned) > 1:
        coordinates = " ".join(f"{px:.1f},{py:.1f}" for px, py in thinned)
        drawn = f"<polyline class='{line.css}' points='{coordinates}'/>"
    if line.marker and len(points) <= MAX_MARKERS:
        drawn += "".join(_marker(line.marker, px, py, line.css) for px, py in points)
    return drawn


def _marker(shape: str, px: float, py: float, css: str) -> str:
    if shape == "circle":
        return f"<circle class='{css} ck-marker' cx='{px:.1f}' cy='{py:.1f}' r='2.5'/>"
    if shape == "square":
        return f"<rect class='{css} ck-marker' x='{px - 2.5:.1f}' y='{py - 2.5:.1f}' width='5' height='5'/>"
    corners = [  # a five-pointed star: outer and inner corners in turn
        (px + r * math.sin(i * math.pi / 5), py - r * math.cos(i * math.pi / 5))
        for i, r in zip(range(10), [8, 3.2] * 5, strict=True)
    ]
    return f"<polygon class='{css} ck-marker' points='{' '.join(f'{a:.1f},{b:.1f}' for a, b in corners)}'/>"


def _text(px: float, py: float, text: str, anchor: str, css: str = "") -> str:
    classes = f" class='{css}'" if css else ""
    return f"<text{classes} x='{px:.1f}' y='{py:.1f}' text-anchor='{anchor}'>{html.escape(text)}</text>"
