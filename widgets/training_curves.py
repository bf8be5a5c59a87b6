"""A training run's curves as the monitor records them (`Curves`), their smoothing, and the saved figure.

`Curves` collects the engine's `Metric` events; the live panel draws them as SVG (`curves_chart`), and
`CurvesFigure` draws them with matplotlib for the PNG file a finished run keeps (``curves.png``) and for
`TrainingMonitor.show_curves`, whose output a notebook shows without a widget manager.
"""

from __future__ import annotations

import copy
import io
import math
from dataclasses import dataclass, field

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from creator_kit import Metric


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's smoothing); weight 0 keeps the values.
    A value that is not finite is kept as it is and left out of the average, so one NaN does not end the curve."""
    smoothed, average, counted = [], 0.0, 0
    for value in values:
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        counted += 1
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight**counted) if weight else value)
    return smoothed


@dataclass
class Curves:
    """The metric series of one run, as the events brought them."""

    train_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    perplexity: list[float] = field(default_factory=list)
    best_step: int | None = None
    latest: dict[str, float] = field(default_factory=dict)

    def add(self, metric: Metric) -> None:
        values = metric.values
        self.latest.update(values)
        if "train_loss" in values:
            self.train_steps.append(metric.step)
            self.train_loss.append(values["train_loss"])
            self.learning_rate.append(values["learning_rate"])
        if "eval_loss" in values:
            self.eval_steps.append(metric.step)
            self.eval_loss.append(values["eval_loss"])
            self.accuracy.append(values["accuracy"])
            self.perplexity.append(values["perplexity"])
            self.best_step = int(values["best_step"])

    def copy(self) -> Curves:
        """A snapshot to draw from while events keep arriving (the series are copied, their numbers shared)."""
        return Curves(**{name: copy.copy(value) for name, value in vars(self).items()})

    @property
    def best_loss(self) -> float | None:
        if self.best_step not in self.eval_steps:
            return None
        return self.eval_loss[self.eval_steps.index(self.best_step)]


class CurvesFigure:
    """The curves as a matplotlib figure, for the PNG a run saves (drawn once, when asked).

    Loss: train (raw, faint, and smoothed) and validation, the best checkpoint starred. Next-token accuracy
    with perplexity on a second axis. Learning rate. `png(transparent=True)` leaves the background out, for
    an output whose stylesheet inverts it on a dark theme; the saved file keeps the white one.
    """

    def __init__(self, curves: Curves, *, smoothing: float, log_scale: bool) -> None:
        self.figure = Figure(figsize=(12.0, 3.4), dpi=100)
        FigureCanvasAgg(self.figure)
        loss_ax, quality_ax, lr_ax = self.figure.subplots(1, 3)
        perplexity_ax = quality_ax.twinx()
        loss_ax.plot(curves.train_steps, curves.train_loss, color="tab:blue", alpha=0.25, linewidth=1)
        loss_ax.plot(curves.train_steps, smooth(curves.train_loss, smoothing), color="tab:blue", label="train")
        loss_ax.plot(curves.eval_steps, curves.eval_loss, "o-", color="tab:orange", markersize=3, label="validation")
        if curves.best_loss is not None:
            loss_ax.plot(
                [curves.best_step], [curves.best_loss], "*", color="tab:red", markersize=12, label="best checkpoint"
            )
        quality_ax.plot(curves.eval_steps, curves.accuracy, "o-", color="tab:green", markersize=3)
        perplexity_ax.plot(curves.eval_steps, curves.perplexity, "s--", color="tab:purple", markersize=3)
        lr_ax.plot(curves.train_steps, curves.learning_rate, color="tab:gray")
        loss_ax.set(title="loss", xlabel="step")
        loss_ax.legend(loc="upper right", fontsize="small")
        quality_ax.set(title="next-token accuracy / perplexity", xlabel="step", ylabel="accuracy")
        perplexity_ax.set_ylabel("perplexity", color="tab:purple")
        lr_ax.set(title="learning rate", xlabel="step")
        lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        if log_scale:
            loss_ax.set_yscale("log")
            perplexity_ax.set_yscale("log")
        self.figure.subplots_adjust(left=0.06, right=0.95, bottom=0.17, top=0.88, wspace=0.45)

    def png(self, *, transparent: bool = False) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", transparent=transparent)
        return buffer.getvalue()
