"""The training monitor: live curves, progress, samples, and Stop-and-save / Resume over `creator_kit.train`.

A view over the engine: Train is one ``train(config)`` call, Resume is ``train(config, resume=True)``
and Stop-and-save sets the run's cancel event (the engine finishes the step, saves a checkpoint and
stops). Training runs in a worker thread so the kernel stays live. Events only record data; a
render thread pushes it into the widgets (progress bar, labels, samples and a PNG of the curves)
at most a few times a second, whatever the step rate, without clear_output. When a run ends the
curves are saved as ``curves.png`` in the run folder; `show_curves` displays them as a plain image,
so an executed notebook shows the plot without a widget manager. The panel's state is in traits (`message`,
`error`, `working`, `step`, `total_steps`, `result`) that the views observe; it watches the store, so its
"ready" line follows the base model being downloaded or deleted anywhere in this process.

    monitor = TrainingMonitor(TrainingConfig(model="distilbert/distilgpt2", data="stories.txt"))
    monitor                      # in a notebook cell
    monitor.train()              # the Train button
    result = monitor.finish()    # waits; raises the run's error if it failed
    monitor.show_curves()
"""

from __future__ import annotations

import base64
import copy
import html
import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as w
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from traitlets import Any as AnyTrait
from traitlets import Int

import creator_kit as ck
from creator_kit import (
    CancelledError,
    CreatorKitError,
    Done,
    Event,
    Metric,
    ModelStore,
    Preview,
    Progress,
    StoreChange,
    TrainingConfig,
    TrainingResult,
)
from widgets.shared.background import BackgroundRun
from widgets.shared.fields import fill_tooltips
from widgets.shared.messages import error_message
from widgets.shared.snapshot import Snapshot
from widgets.shared.style import PLOT_CSS, style_panel, text_html

REDRAW_INTERVAL_S = 0.4
#: Most of the time the plot may take while training runs (it holds the GIL while matplotlib draws).
PLOT_TIME_SHARE = 0.025
SAMPLES_SHOWN = 4


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's smoothing); weight 0 keeps the values."""
    smoothed, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight**i) if weight else value)
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


class CurvesPlot:
    """A matplotlib figure of the curves whose axes and lines are made once and updated in place (cheap redraws).

    Loss: train (raw, faint, and smoothed) and validation, the best checkpoint starred. Next-token accuracy
    with perplexity on a second axis. Learning rate. `png` draws it on a transparent background, for the
    panel, whose stylesheet inverts it on a dark theme; a saved file keeps the white one.
    """

    def __init__(self, *, width: float = 11.0, height: float = 3.0, dpi: int = 72) -> None:
        self.figure = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.loss_ax, self.quality_ax, self.lr_ax = self.figure.subplots(1, 3)
        self.perplexity_ax = self.quality_ax.twinx()
        (self.train_raw,) = self.loss_ax.plot([], [], color="tab:blue", alpha=0.25, linewidth=1)
        (self.train_smooth,) = self.loss_ax.plot([], [], color="tab:blue", label="train")
        (self.validation,) = self.loss_ax.plot([], [], "o-", color="tab:orange", markersize=3, label="validation")
        (self.best,) = self.loss_ax.plot([], [], "*", color="tab:red", markersize=12, label="best checkpoint")
        (self.accuracy,) = self.quality_ax.plot([], [], "o-", color="tab:green", markersize=3, label="accuracy")
        (self.perplexity,) = self.perplexity_ax.plot([], [], "s--", color="tab:purple", markersize=3)
        (self.learning_rate,) = self.lr_ax.plot([], [], color="tab:gray")
        self.loss_ax.set(title="loss", xlabel="step")
        self.loss_ax.legend(loc="upper right", fontsize="small")
        self.quality_ax.set(title="next-token accuracy / perplexity", xlabel="step", ylabel="accuracy")
        self.perplexity_ax.set_ylabel("perplexity", color="tab:purple")
        self.lr_ax.set(title="learning rate", xlabel="step")
        self.lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        self.figure.subplots_adjust(left=0.06, right=0.98, bottom=0.17, top=0.88, wspace=0.45)

    def update(self, curves: Curves, *, smoothing: float, log_scale: bool) -> None:
        self.train_raw.set_data(curves.train_steps, curves.train_loss)
        self.train_smooth.set_data(curves.train_steps, smooth(curves.train_loss, smoothing))
        self.validation.set_data(curves.eval_steps, curves.eval_loss)
        best = curves.best_loss
        self.best.set_data([curves.best_step] if best is not None else [], [best] if best is not None else [])
        self.accuracy.set_data(curves.eval_steps, curves.accuracy)
        self.perplexity.set_data(curves.eval_steps, curves.perplexity)
        self.learning_rate.set_data(curves.train_steps, curves.learning_rate)
        scale = "log" if log_scale else "linear"
        self.loss_ax.set_yscale(scale)
        self.perplexity_ax.set_yscale(scale)
        for axes in (self.loss_ax, self.quality_ax, self.perplexity_ax, self.lr_ax):
            axes.relim()
            axes.autoscale_view()

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", transparent=True, pil_kwargs={"compress_level": 1})
        return buffer.getvalue()


class TrainingMonitor(Snapshot, BackgroundRun, w.VBox):
    """The panel over one training config. `result` holds the last finished run's TrainingResult."""

    snapshot_title = "Training monitor"

    step = Int(0, help="optimizer steps done in the run")
    total_steps = Int(1, help="optimizer steps the run takes")
    result = AnyTrait(None, allow_none=True, help="the last finished run's TrainingResult")

    def __init__(
        self,
        config: TrainingConfig,
        *,
        dataset: Any = None,
        store: ModelStore | None = None,
        redraw_interval: float = REDRAW_INTERVAL_S,
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.store = store
        self._watched = store or ModelStore()  # the store whose changes the "ready" line follows
        self.redraw_interval = redraw_interval
        self.curves = Curves()
        self.samples: list[tuple[int, str]] = []
        self._progress: Progress | None = None
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the recorded data
        self._render_lock = threading.Lock()  # one refresh at a time (render thread, or a control's observer)
        self._dirty = False
        self._ready = True  # the status line says whether the run can start (until a run starts)
        self.live_plot = CurvesPlot()
        self.plot_seconds = 0.0  # how long the last redraw of the plot took

        self.train_button = w.Button(description="Train", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop and save", icon="stop", disabled=True)
        self.resume_button = w.Button(description="Resume", icon="forward")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Step", layout={"width": "60%"})
        self.progress_label = w.Label()
        self.status = w.HTML()
        self.metrics = w.HTML()
        self.log_scale = w.Checkbox(value=False, description="log scale", indent=False)
        self.smoothing = w.FloatSlider(value=0.6, min=0.0, max=0.99, step=0.01, description="smoothing")
        self.plot = w.Image(format="png", layout={"max_width": "100%"}).add_class("ck-plot")
        self.sample_box = w.HTML()
        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.resume_button.on_click(lambda _: self.resume())
        self.log_scale.observe(lambda _: self.refresh(), "value")
        self.smoothing.observe(lambda _: self.refresh(), "value")
        super().__init__(
            [
                w.HBox([self.train_button, self.stop_button, self.resume_button]),
                w.HBox([self.progress, self.progress_label]),
                self.status,
                self.metrics,
                w.HBox([self.log_scale, self.smoothing]),
                self.plot,
                self.sample_box,
            ]
        )
        style_panel(self, "training-monitor")
        fill_tooltips(self)
        w.dlink((self, "total_steps"), (self.progress, "max"))
        w.dlink((self, "step"), (self.progress, "value"))
        self.observe(lambda _: self._show_status(), names=["message", "error"])
        self.observe(lambda _: self._set_buttons(running=self.working), names="working")
        self._set_buttons(running=False)
        self._watched.watch(self._on_store_change)
        self._say_ready()

    # ------------------------------------------------------------------ buttons

    def train(self) -> None:
        """Start a fresh run in a worker thread (Train button)."""
        self._start(resume=False)

    def resume(self) -> None:
        """Continue the run from its last checkpoint in a worker thread (Resume button)."""
        self._start(resume=True)

    def stop(self) -> None:
        """Finish the current step, save a checkpoint and stop (Stop and save button)."""
        self._cancel.set()
        self.stop_button.disabled = True
        self.message = "Stopping after this step and saving a checkpoint…"

    def latest_result(self) -> TrainingResult | None:
        """The last finished run's result (what `wait` and `finish` return)."""
        return self.result

    def close(self) -> None:
        """Stop following the store, and close the panel's widget."""
        self._watched.unwatch(self._on_store_change)
        super().close()

    # ------------------------------------------------------------------ events and rendering

    def handle(self, event: Event) -> None:
        """The engine's on_event: record the event; the render thread shows it (cheap, called every step)."""
        first_step = isinstance(event, Progress) and self._progress is None
        if first_step and self.working and not self._cancel.is_set():
            self.message = "Training has started: its progress, curves and samples show below."
        with self._lock:
            if isinstance(event, Progress):
                self._progress = event
            elif isinstance(event, Metric):
                self.curves.add(event)
            elif isinstance(event, Preview):
                self.samples.append((event.step, event.value["text"]))
            elif isinstance(event, Done):
                self.result = event.result
            self._dirty = True

    def refresh(self, plot: bool = True) -> None:
        """Push the recorded state into the widgets and (if `plot`) redraw the curves."""
        with self._render_lock:
            with self._lock:
                self._dirty = False
                progress, curves, samples = self._progress, self.curves.copy(), self.samples[-SAMPLES_SHOWN:]
            if progress is not None:
                self.total_steps = max(int(progress.total or 1), 1)
                self.step = int(progress.completed)
            self.progress_label.value = _progress_text(progress, curves.latest)
            self.metrics.value = _metrics_html(curves, self.smoothing.value)
            self.sample_box.value = _samples_html(self.config.sample_prompt, samples)
            if plot:
                started = time.perf_counter()
                self.live_plot.update(curves, smoothing=self.smoothing.value, log_scale=self.log_scale.value)
                self.plot.value = self.live_plot.png()
                self.plot_seconds = time.perf_counter() - started

    def save_curves(self, path: str | Path | None = None) -> Path:
        """Save the curves as a PNG (default: ``curves.png`` in the run folder); returns the path."""
        path = Path(path) if path is not None else self.config.run_dir / "curves.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._final_plot().figure.savefig(path, format="png")
        return path

    def show_curves(self) -> None:
        """Display the saved curves in the cell's output, with no widget manager needed: as HTML that follows the
        notebook's theme, and the saved PNG for viewers without HTML."""
        from IPython.display import display

        saved = base64.b64encode(self.save_curves().read_bytes()).decode("ascii")
        themed = base64.b64encode(self._final_plot().png()).decode("ascii")
        page = f"<style>{PLOT_CSS}</style><img class='ck-plot' alt='the curves' src='data:image/png;base64,{themed}'>"
        display({"text/html": page, "image/png": saved}, raw=True)

    def _final_plot(self) -> CurvesPlot:
        """The curves recorded so far, drawn at the size of the saved figure."""
        with self._lock:
            curves = self.curves.copy()
        plot = CurvesPlot(width=12.0, height=3.4, dpi=100)
        plot.update(curves, smoothing=self.smoothing.value, log_scale=self.log_scale.value)
        return plot

    # ------------------------------------------------------------------ the run

    def _start(self, resume: bool) -> None:
        if self.running:
            return
        self._cancel, self._ready = threading.Event(), False
        with self._lock:
            self.curves, self.samples, self.result, self.error, self._progress = Curves(), [], None, None, None
        self.working = True
        self.message = "Resuming from the last checkpoint…" if resume else "Loading the model and the data…"
        self._worker = threading.Thread(target=self._run, args=(resume, self._cancel), daemon=True)
        self._worker.start()
        threading.Thread(target=self._render_loop, args=(self._worker,), daemon=True).start()

    def _run(self, resume: bool, cancel: threading.Event) -> None:
        try:
            result = ck.train.train(
                self.config, dataset=self.dataset, resume=resume, on_event=self.handle, cancel=cancel, store=self.store
            )
        except CancelledError:
            self._end("Stopped and saved: press Resume to continue.")
        except CreatorKitError as error:
            self._end(error_message(error), error)
        except Exception as error:  # shown in the panel: a widget callback must never dump a traceback
            self._end(error_message(error, unexpected=True), error)
        else:
            metrics = " · ".join(f"{name} {value:.4g}" for name, value in result.metrics.items())
            self._end(f"Done: {result.model.repo_id} · best step {result.best_step} · {metrics}")

    def _end(self, message: str, error: Exception | None = None) -> None:
        if self.curves.train_steps:
            self.save_curves()
        self.error, self.message, self.working = error, message, False

    def _say_ready(self) -> None:
        """Say whether a run can start: the base model is installed (or how to get it)."""
        model, target = self.config.model, f"local/{self.config.model_name}"
        try:
            installed = self._watched.is_installed(model)
        except CreatorKitError:
            installed = False  # not a model id: the run's own check says why
        self.error = None
        if installed:
            self.message = f"Ready to train {model} into {target}."
        else:
            self.message = f"{model} is not installed: download it (`ck.ModelStore().download('{model}')`) to train it."

    def _on_store_change(self, change: StoreChange) -> None:
        if self._ready:
            self._say_ready()

    def _render_loop(self, worker: threading.Thread) -> None:
        """While `worker` runs, update the widgets at most every `redraw_interval` seconds and the plot less
        often, so that drawing takes at most PLOT_TIME_SHARE of the time; redraw everything when it ends."""
        next_plot = 0.0
        while worker.is_alive():
            time.sleep(self.redraw_interval)
            if self._dirty:
                plot = time.monotonic() >= next_plot
                self.refresh(plot=plot)
                if plot:
                    next_plot = time.monotonic() + self.plot_seconds / PLOT_TIME_SHARE
        self.refresh()

    def _set_buttons(self, running: bool) -> None:
        self.train_button.disabled = running
        self.stop_button.disabled = not running
        self.resume_button.disabled = running or ck.train.last_checkpoint(self.config) is None

    def _show_status(self) -> None:
        self.status.value = text_html(self.message, error=self.error is not None)


def _progress_text(progress: Progress | None, latest: dict[str, float]) -> str:
    if progress is None:
        return ""
    parts = [f"{progress.completed:.0f}/{progress.total or 0:.0f} steps"]
    if "eta_s" in latest:
        parts.append(f"ETA {_duration(latest['eta_s'])}")
    if "tokens_per_s" in latest:
        parts.append(f"{latest['tokens_per_s']:,.0f} tokens/s")
    if "learning_rate" in latest:
        parts.append(f"lr {latest['learning_rate']:.2e}")
    return " · ".join(parts)


def _metrics_html(curves: Curves, smoothing: float) -> str:
    cells = []
    if curves.train_loss:
        cells.append(("train loss", f"{smooth(curves.train_loss, smoothing)[-1]:.4f}"))
    if curves.eval_loss:
        cells += [
            ("validation loss", f"{curves.eval_loss[-1]:.4f}"),
            ("perplexity", f"{curves.perplexity[-1]:.2f}"),
            ("accuracy", f"{curves.accuracy[-1]:.1%}"),
        ]
    if curves.best_loss is not None:
        cells.append(("best checkpoint", f"★ step {curves.best_step} (validation {curves.best_loss:.4f})"))
    return "".join(
        f"<span class='ck-metric'><b>{html.escape(name)}</b> {html.escape(value)}</span>" for name, value in cells
    )


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _samples_html(prompt: str, samples: list[tuple[int, str]]) -> str:
    if not samples:
        return ""
    rows = "".join(
        f"<li><b>step {step}</b>: <i>{html.escape(prompt)}</i>{html.escape(sample)}</li>"
        for step, sample in reversed(samples)
    )
    return f"<div><b>Samples</b><ul style='margin:0'>{rows}</ul></div>"
