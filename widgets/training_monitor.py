"""The training monitor: live curves, progress, samples, and Stop-and-save / Resume over `creator_kit.train`.

A view over the engine: Train is one ``train(config)`` call, Resume is ``train(config, resume=True)``
and Stop-and-save sets the run's cancel event (the engine finishes the step, saves a checkpoint and
stops). Training runs in a worker thread so the kernel stays live. Events only record data; a
render thread pushes it into the widgets (progress bar, labels, samples and the curves, drawn as SVG by
`curves_chart`) every `redraw_interval` seconds while they change, without clear_output, so the curves grow
with each logged step. When a run ends the curves are saved as ``curves.png`` in the run folder;
`show_curves` displays them as a plain image, so an executed notebook shows the plot without a widget manager.

What the next run makes is shown in the panel: "Save as" names the model (``local/<name>``) and "Replace"
allows training into a name that exists. Train never replaces a model or a stopped run unless Replace is
ticked: the status line says what stands in the way and Train waits; after a finished run, Save as proposes
the next free name (``stories-2``), so a second Train makes a new model and the finished run's curves stay
until the new run's first step. Resume is enabled only while a stopped run of that name can continue.

The panel's state is in traits (`message`, `error`, `working`, `step`, `total_steps`, `result`) that the views
observe; it watches the store, so its status line follows the base model or the target being downloaded,
made or deleted anywhere in this process.

    monitor = TrainingMonitor(TrainingConfig(model="distilbert/distilgpt2", data="stories.txt"))
    monitor                      # in a notebook cell
    monitor.train()              # the Train button
    result = monitor.finish()    # waits; raises the run's error if it failed
    monitor.show_curves()
"""

from __future__ import annotations

import base64
import dataclasses
import html
import itertools
import re
import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as w
from traitlets import Any as AnyTrait
from traitlets import Int

import creator_kit as ck
from creator_kit import (
    TEXT_GENERATION,
    CancelledError,
    CreatorKitError,
    Done,
    Event,
    InvalidInputError,
    Metric,
    ModelStore,
    OutputExistsError,
    Preview,
    Progress,
    StoreChange,
    TrainingConfig,
    TrainingResult,
)
from widgets.curves_chart import curves_html
from widgets.shared.background import BackgroundRun
from widgets.shared.fields import fill_tooltips, labelled
from widgets.shared.messages import error_message
from widgets.shared.snapshot import Snapshot
from widgets.shared.style import PLOT_CSS, style_panel, text_html
from widgets.training_curves import Curves, CurvesFigure, smooth

#: How often the render thread pushes new data into the widgets, curves included (drawing them is cheap).
REDRAW_INTERVAL_S = 0.25
SAMPLES_SHOWN = 4


class TrainingMonitor(Snapshot, BackgroundRun, w.VBox):
    """The panel over one training config. `result` holds the last finished run's TrainingResult; `config` is
    the config of the run under way or last started (Save as and Replace set the next one's name and overwrite)."""

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
        self._watched = store or ModelStore()  # the store whose changes the status line follows
        self.redraw_interval = redraw_interval
        self.curves = Curves()
        self.samples: list[tuple[int, str]] = []
        self._progress: Progress | None = None
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the recorded data
        self._render_lock = threading.Lock()  # one refresh at a time (render thread, or a control's observer)
        self._dirty = False
        self._ready = True  # the status line says whether a run can start (until a run starts)
        self._previous_shown = False  # the curves are the last run's until the new run's first step

        self.train_button = w.Button(description="Train", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop and save", icon="stop", disabled=True)
        self.resume_button = w.Button(description="Resume", icon="forward")
        self.save_as = labelled(
            w.Text(value=config.model_name, placeholder="a name for the new model"),
            "Save as",
            "the new model's name: it is saved as local/<name>, its run in outputs/runs/<name>",
        )
        self.replace = labelled(
            w.Checkbox(value=config.overwrite, indent=False),
            "Replace",
            "train into a name that exists: replace that model, or start its stopped run again",
        )
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Step", layout={"width": "60%"})
        self.progress_label = w.Label()
        self.status = w.HTML()
        self.metrics = w.HTML()
        self.log_scale = w.Checkbox(value=False, description="Log scale", indent=False)
        self.smoothing = w.FloatSlider(value=0.6, min=0.0, max=0.99, step=0.01, description="Smoothing")
        self.plot = w.HTML(layout={"width": "auto"}).add_class("ck-curves")
        self.sample_box = w.HTML()
        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.resume_button.on_click(lambda _: self.resume())
        self.save_as.observe(lambda _: self._on_next_run_change(), "value")
        self.replace.observe(lambda _: self._on_next_run_change(), "value")
        self.log_scale.observe(lambda _: self.refresh(), "value")
        self.smoothing.observe(lambda _: self.refresh(), "value")
        super().__init__(
            [
                w.HBox([self.save_as, self.replace]),
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
        self.observe(lambda _: self._update_controls(), names="working")
        self._watched.watch(self._on_store_change)
        self._say_ready()
        self._update_controls()
        self.refresh()

    # ------------------------------------------------------------------ buttons

    def train(self) -> None:
        """Start a fresh run of `next_config()` in a worker thread (Train button)."""
        self._start(resume=False)

    def resume(self) -> None:
        """Continue the stopped run named in Save as from its last checkpoint, in a worker thread (Resume button)."""
        self._start(resume=True)

    def stop(self) -> None:
        """Finish the current step, save a checkpoint and stop (Stop and save button)."""
        self._cancel.set()
        self.stop_button.disabled = True
        self.message = "Stopping after this step and saving a checkpoint…"

    def next_config(self) -> TrainingConfig:
        """The config the next Train or Resume runs: `config` with the name in Save as and Replace as overwrite
        (InvalidInputError when Save as cannot name a model)."""
        return dataclasses.replace(self.config, name=self.save_as.value.strip(), overwrite=self.replace.value)

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
            if self._previous_shown and isinstance(event, Progress | Metric | Preview):
                self.curves, self.samples, self._previous_shown = Curves(), [], False  # the new run's first step
            if isinstance(event, Progress):
                self._progress = event
            elif isinstance(event, Metric):
                self.curves.add(event)
            elif isinstance(event, Preview):
                self.samples.append((event.step, event.value["text"]))
            elif isinstance(event, Done):
                self.result = event.result
            self._dirty = True

    def refresh(self) -> None:
        """Push the recorded state into the widgets, the curves included."""
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
            self.plot.value = curves_html(
                curves,
                total_steps=self.total_steps if progress is not None else self.config.max_steps or 0,
                smoothing=self.smoothing.value,
                log_scale=self.log_scale.value,
            )

    def save_curves(self, path: str | Path | None = None) -> Path:
        """Save the curves as a PNG (default: ``curves.png`` in the run's folder); returns the path."""
        path = Path(path) if path is not None else self.config.run_dir / "curves.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self._figure().png())
        return path

    def show_curves(self) -> None:
        """Display the saved curves in the cell's output, with no widget manager needed: as HTML that follows the
        notebook's theme, and the saved PNG for viewers without HTML."""
        from IPython.display import display

        saved = base64.b64encode(self.save_curves().read_bytes()).decode("ascii")
        themed = base64.b64encode(self._figure().png(transparent=True)).decode("ascii")
        page = f"<style>{PLOT_CSS}</style><img class='ck-plot' alt='the curves' src='data:image/png;base64,{themed}'>"
        display({"text/html": page, "image/png": saved}, raw=True)

    def _figure(self) -> CurvesFigure:
        """The curves recorded so far, as the figure a run saves."""
        with self._lock:
            curves = self.curves.copy()
        return CurvesFigure(curves, smoothing=self.smoothing.value, log_scale=self.log_scale.value)

    # ------------------------------------------------------------------ the run

    def _start(self, resume: bool) -> None:
        if self.running:
            return
        try:
            config = self.next_config()
        except InvalidInputError as error:
            self._refuse(InvalidInputError(f"Save as: {error}"))
            return
        problem = self._resume_problem(config) if resume else self._train_problem(config)
        if problem is not None:
            self._refuse(problem)
            return
        self.config, self._cancel, self._ready = config, threading.Event(), False
        with self._lock:
            self.result, self.error, self._progress, self._previous_shown = None, None, None, True
            self._dirty = True
        self.step = 0  # a new run: the progress starts again; the last run's curves stay until its first step
        self.refresh()
        self.working = True
        self.message = "Resuming from the last checkpoint…" if resume else "Loading the model and the data…"
        self._worker = threading.Thread(target=self._run, args=(config, resume, self._cancel), daemon=True)
        self._worker.start()
        threading.Thread(target=self._render_loop, args=(self._worker,), daemon=True).start()

    def _refuse(self, error: CreatorKitError) -> None:
        """Say in place why the run cannot start (`finish` raises it); the last run's results stay shown."""
        self.result, self.error, self.message = None, error, str(error)

    def _run(self, config: TrainingConfig, resume: bool, cancel: threading.Event) -> None:
        try:
            result = ck.train.train(
                config, dataset=self.dataset, resume=resume, on_event=self.handle, cancel=cancel, store=self.store
            )
        except CancelledError:
            self._end("Stopped and saved: press Resume to continue.")
        except CreatorKitError as error:
            self._end(error_message(error), error)
        except Exception as error:  # shown in the panel: a widget callback must never dump a traceback
            self._end(error_message(error, unexpected=True), error)
        else:
            best = [f"best step {result.best_step}"] if result.best_step else []
            parts = [f"Done: {result.model.repo_id}", *best, *(f"{n} {v}" for n, v in _metric_cells(result.metrics))]
            self._end(" · ".join(parts) + "." + self._propose_name())

    def _end(self, message: str, error: Exception | None = None) -> None:
        if self.curves.train_steps and not self._previous_shown:
            self.save_curves()
        self.error, self.message, self.working = error, message, False

    def _propose_name(self) -> str:
        """After a finished run, unless Replace is ticked: the next free name in Save as, and a sentence saying so."""
        if self.replace.value:
            return f" Train again to replace local/{self.config.model_name}."
        base = re.sub(r"-\d+$", "", self.config.model_name)[:90]
        names = (f"{base}-{number}" for number in itertools.count(2))
        free = next(n for n in names if self._train_problem(dataclasses.replace(self.config, name=n)) is None)
        self.save_as.value = free
        return f" Train again to save local/{free} (or tick Replace and type {self.config.model_name} to retrain it)."

    # ------------------------------------------------------------------ what the next run may do

    def _train_problem(self, config: TrainingConfig) -> CreatorKitError | None:
        """Why a fresh run of `config` cannot start, in the panel's terms (what the engine would refuse), or None."""
        target = f"local/{config.model_name}"
        if self._watched.is_installed(target):
            task = self._watched.get(target).task
            if task not in (None, TEXT_GENERATION):
                return OutputExistsError(f"{target} is a {task} model: type another name in Save as.")
            if not config.overwrite:
                return OutputExistsError(
                    f"{target} exists already: type a new name in Save as, or tick Replace to train it again."
                )
        elif not config.overwrite and ck.train.stopped_checkpoint(config) is not None:
            return OutputExistsError(
                f"A stopped run of {target} is saved: press Resume to continue it, tick Replace to start it again, "
                "or type a new name in Save as."
            )
        return None

    def _resume_problem(self, config: TrainingConfig) -> CreatorKitError | None:
        """Why the stopped run of `config` cannot continue, in the panel's terms, or None."""
        target = f"local/{config.model_name}"
        if ck.train.stopped_checkpoint(config) is None:
            return OutputExistsError(f"There is no stopped run of {target} to resume: press Train to start one.")
        if self._watched.is_installed(target) and not config.overwrite:
            return OutputExistsError(f"{target} exists already: tick Replace to continue its stopped run into it.")
        return None

    def _say_ready(self) -> None:
        """Say whether a run can start: the base model is installed (or how to get it), and what Train makes."""
        model = self.config.model
        try:
            config = self.next_config()
        except InvalidInputError as error:
            self.error, self.message = error, f"Save as: {error}"
            return
        problem, target = self._train_problem(config), f"local/{config.model_name}"
        try:
            installed = self._watched.is_installed(model)
        except CreatorKitError:
            installed = False  # not a model id: the run's own check says why
        if problem is not None:
            self.error, self.message = problem, str(problem)
        elif not installed:
            self.error = None
            self.message = f"{model} is not installed: download it (`ck.ModelStore().download('{model}')`) to train it."
        else:
            replacing = " again, replacing it" if self._watched.is_installed(target) else ""
            self.error, self.message = None, f"Ready to train {model} into {target}{replacing}."

    def _on_next_run_change(self) -> None:
        if not self.working:
            self._ready = True
            self._say_ready()
            self._update_controls()

    def _on_store_change(self, change: StoreChange) -> None:
        if not self.working:
            if self._ready:
                self._say_ready()
            self._update_controls()

    def _render_loop(self, worker: threading.Thread) -> None:
        """While `worker` runs, push new data into the widgets every `redraw_interval` seconds; once more at the end."""
        while worker.is_alive():
            time.sleep(self.redraw_interval)
            if self._dirty:
                self.refresh()
        self.refresh()

    def _update_controls(self) -> None:
        """Enable what can be done now: Train when the next run may start, Resume when a stopped run can continue."""
        running = self.working
        try:
            config = self.next_config()
            can_train = self._train_problem(config) is None
            can_resume = self._resume_problem(config) is None
        except CreatorKitError:
            can_train = can_resume = False
        self.train_button.disabled = running or not can_train
        self.stop_button.disabled = not running
        self.resume_button.disabled = running or not can_resume
        self.save_as.disabled = self.replace.disabled = running

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


def _metric_cells(evaluation: dict[str, float]) -> list[tuple[str, str]]:
    """The validation numbers as the panel names them (the metrics row and the Done line alike)."""
    cells = []
    if "eval_loss" in evaluation:
        cells.append(("validation loss", f"{evaluation['eval_loss']:.4f}"))
    if "perplexity" in evaluation:
        cells.append(("perplexity", f"{evaluation['perplexity']:.2f}"))
    if "accuracy" in evaluation:
        cells.append(("accuracy", f"{evaluation['accuracy']:.1%}"))
    return cells


def _metrics_html(curves: Curves, smoothing: float) -> str:
    cells = []
    if curves.train_loss:
        cells.append(("train loss", f"{smooth(curves.train_loss, smoothing)[-1]:.4f}"))
    if curves.eval_loss:
        latest = {"eval_loss": curves.eval_loss[-1], "perplexity": curves.perplexity[-1]}
        cells += _metric_cells({**latest, "accuracy": curves.accuracy[-1]})
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
