"""The one progress protocol: typed events handed to an ``on_event`` callback.

Every long operation (download, load, generate, train, encode) takes ``on_event`` and calls it with
the events below; each event names its `operation` ("download", "train", "video"...). `TqdmReporter`
renders them as bars where it runs: text bars in a terminal, widget bars in JupyterLab, one line per finished
bar in papermill; the panels render the same events in their own widgets. `Eta`
is the one estimate of the time left, for engines and panels alike; `Stages` reports work done in
named stages (a video's keyframes, motion, encode) with it.

    with TqdmReporter() as reporter:
        store.download("distilbert/distilgpt2", on_event=reporter)
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from tqdm import tqdm

from creator_kit.core.errors import CancelledError, InvalidInputError


@dataclass(frozen=True)
class Progress:
    """`completed` of `total` `unit`s done in `operation` (and, for multi-part work, in `stage`)."""

    operation: str
    completed: float
    total: float | None
    unit: str = "it"
    stage: str | None = None
    time: float = field(default_factory=time.monotonic)

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.completed / self.total)


@dataclass(frozen=True)
class Metric:
    """Named numeric values measured at `step` (loss, accuracy, tokens/s...)."""

    operation: str
    step: int
    values: dict[str, float]
    time: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Preview:
    """An intermediate result worth showing (a decoded latent, a keyframe, a text piece)."""

    operation: str
    step: int
    value: Any
    time: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Log:
    """A line for the user."""

    operation: str
    message: str
    level: str = "info"
    time: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Done:
    """`operation` finished; `result` is what the call returns."""

    operation: str
    result: Any = None
    time: float = field(default_factory=time.monotonic)


Event = Progress | Metric | Preview | Log | Done
EventCallback = Callable[[Event], None]


def emit(on_event: EventCallback | None, event: Event) -> None:
    """Hand `event` to `on_event` if there is one."""
    if on_event is not None:
        on_event(event)


class Eta:
    """Time left for work measured in units (bytes, steps, work units), at the rate seen since it started.

    The clock starts when the Eta is made, at `done` units: work found already done (a resumed download or
    run, cached keyframes) does not make the estimate optimistic.

        eta = Eta()
        eta.update(done, total)   # seconds left, or None until there is a rate
    """

    def __init__(self, done: float = 0.0) -> None:
        self._start = (time.monotonic(), done)
        self.rate: float | None = None  # units per second

    def update(self, done: float, total: float | None) -> float | None:
        """Seconds left for `total - done` more units at the rate seen so far (None without a rate or a total)."""
        seconds, units = time.monotonic() - self._start[0], done - self._start[1]
        self.rate = units / seconds if seconds > 0 and units > 0 else None
        if self.rate is None or total is None:
            return None
        return max(0.0, (total - done) / self.rate)


#: Where progress shows: a terminal (tqdm's text bars), a notebook whose frontend draws widgets (tqdm's notebook
#: bars), or a kernel with no such frontend (papermill, nbval, nbconvert: one plain line per finished bar).
TERMINAL, NOTEBOOK, LINES = "terminal", "notebook", "lines"
#: The unit of work that has no name a person would use (`Stages`' overall progress): shown as a percentage.
WORK = "work"
#: Metric values a bar shows already (its elapsed and remaining time): left out of its text.
_SHOWN_BY_BAR = frozenset({"elapsed_s", "eta_s"})


def progress_mode() -> str:
    """How progress shows in this process: TERMINAL outside a Jupyter kernel; in a kernel, NOTEBOOK when a Jupyter
    server started it (JupyterLab, Notebook: a frontend that draws widgets), else LINES (papermill, nbval and
    nbconvert start their kernels themselves, and keep only text). IPython is looked up, never imported."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or "IPKernelApp" not in shell.config:
        return TERMINAL
    return NOTEBOOK if os.environ.get("JPY_SESSION_NAME") else LINES  # jupyter_server sets it for its kernels


def metric_text(values: dict[str, float]) -> str:
    """Metric values in words, for a bar: ``{"train_loss": 2.3141, "tokens_per_s": 1234.5, "eta_s": 3}`` is
    ``"train loss 2.31 · tokens/s 1,234"`` (the times a bar shows already are left out)."""
    return " · ".join(
        f"{name.removesuffix('_per_s').replace('_', ' ')}{'/s' if name.endswith('_per_s') else ''} {_number(value)}"
        for name, value in values.items()
        if name not in _SHOWN_BY_BAR
    )


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value == 0 or abs(value) >= 0.01 else f"{value:.1e}"


class LineBar:
    """A bar that writes one line once its work is done (or when it closes short of it), and nothing before:
    progress for a log that keeps every byte (papermill's output notebook, nbval). It has the part of tqdm's
    interface that `TqdmReporter` uses."""

    def __init__(self, total: float | None, desc: str, unit: str, file: TextIO | None = None, **_: Any) -> None:
        self.total, self.desc, self.unit, self.file = total, desc, unit, file
        self.n: float = 0
        self.postfix = ""
        self._started = time.monotonic()
        self._written = False

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.total is not None and self.n >= self.total:
            self._write()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def close(self) -> None:
        self._write()

    def _write(self) -> None:
        if self._written:
            return
        self._written = True
        finished = self.total is not None and self.n >= self.total
        if self.unit == WORK:
            done = "done" if finished else f"stopped at {self.n / self.total:.0%}" if self.total else "stopped"
        else:
            done = _amount(self.n, self.unit) + ("" if finished else f" of {_amount(self.total, self.unit)}")
        line = f"{self.desc}: {done} {'in' if finished else 'after'} {time.monotonic() - self._started:.1f} s"
        print(line + (f" · {self.postfix}" if self.postfix else ""), file=self.file or sys.stdout, flush=True)


def _amount(count: float | None, unit: str) -> str:
    """`count` `unit`s in words: "1.2 MB", "4 frames", "1 step"."""
    if count is None:
        return "?"
    if unit == "B":
        prefixes = ["", "K", "M", "G"]
        while count >= 1024 and len(prefixes) > 1:
            count /= 1024
            prefixes.pop(0)
        return f"{count:.3g} {prefixes[0]}B"
    return f"{count:g} {unit}{'' if count == 1 else 's'}"


class TqdmReporter:
    """Renders events as progress bars, one per (operation, stage); logs as lines above them, metrics in words
    after them. The bars are those of where it runs (`progress_mode`, or `mode`): tqdm's text bars in a terminal,
    its widget bars in JupyterLab, one line per finished bar in papermill and nbval (no carriage returns).

    An operation's bars close on its Done event; used as a context manager, every bar closes at the end,
    whatever happened.
    """

    def __init__(self, mode: str | None = None, **tqdm_kwargs: Any) -> None:
        self.mode = mode or progress_mode()
        if self.mode not in (TERMINAL, NOTEBOOK, LINES):
            raise InvalidInputError(f"mode must be {TERMINAL!r}, {NOTEBOOK!r} or {LINES!r}, not {self.mode!r}.")
        self._bars: dict[tuple[str, str | None], Any] = {}
        self._tqdm_kwargs = tqdm_kwargs

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._update(event)
        elif isinstance(event, Metric):
            bar = self._latest_bar(event.operation)
            if bar is not None:
                bar.set_postfix_str(metric_text(event.values), refresh=False)
        elif isinstance(event, Log):
            self._log(f"[{event.operation}] {event.message}")
        elif isinstance(event, Done):
            self.close(event.operation)

    def __enter__(self) -> TqdmReporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _log(self, message: str) -> None:
        if self.mode == TERMINAL:
            tqdm.write(message, file=self._tqdm_kwargs.get("file"))  # above the bars, which are drawn again
        else:
            print(message, file=self._tqdm_kwargs.get("file") or sys.stdout, flush=True)

    def _update(self, event: Progress) -> None:
        key = (event.operation, event.stage)
        bar = self._bars.get(key)
        if bar is None:
            bar = self._bars[key] = self._new_bar(event)
        if event.total is not None and bar.total != event.total:
            bar.total = event.total
            if self.mode == NOTEBOOK:
                bar.container.children[1].max = event.total  # the widget's own maximum
        bar.update(event.completed - bar.n)

    def _new_bar(self, event: Progress) -> Any:
        desc, unit = event.stage or event.operation, event.unit
        if self.mode == LINES:
            return LineBar(event.total, desc, unit, file=self._tqdm_kwargs.get("file"))
        if self.mode == NOTEBOOK:
            from tqdm.notebook import tqdm as bars  # ipywidgets, which a kernel with a widget frontend has
        else:
            bars = tqdm
        is_bytes = unit == "B"
        shape = (
            {"bar_format": "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"} if unit == WORK else {}
        )
        options = {"unit": unit, "unit_scale": is_bytes, "unit_divisor": 1024 if is_bytes else 1000, **shape}
        bar = bars(total=event.total, desc=desc, **options, **self._tqdm_kwargs)
        if self.mode == NOTEBOOK:  # a record once done: the panels' stylesheet keeps it free of ipywidgets' chains
            bar.container.add_class("ck-progress")
        return bar

    def _latest_bar(self, operation: str) -> Any:
        bars = [bar for (bar_operation, _), bar in self._bars.items() if bar_operation == operation]
        return bars[-1] if bars else None

    def close(self, operation: str | None = None) -> None:
        """Close the bars of `operation` (all bars when None)."""
        for key in [k for k in self._bars if operation is None or k[0] == operation]:
            self._bars.pop(key).close()


class Stages:
    """Progress through the named stages of one operation, as events, with the ETA of the whole.

    `plan` maps each stage to ``(items, unit, work)``: how many items it has, what one is called, and its
    estimated cost in a work unit all stages share (for a video, one sampling step), so that stages of
    different costs add up to one overall Progress (stage None, unit "work"). `start` logs a stage and
    opens its Progress; `advance` moves it and the overall one, emits a Metric with ``elapsed_s`` and
    ``eta_s`` (from `Eta`, once it has a rate), and raises CancelledError once `cancel` is set.

        stages = Stages("video", {"sample": (25, "step", 1.0)}, title="Video generation", on_event=on_event)
        stages.start("sample", "24 frames at 512x512")
        stages.advance()
        stages.finish()   # seconds per stage
    """

    def __init__(
        self,
        operation: str,
        plan: dict[str, tuple[int, str, float]],
        *,
        title: str = "",
        cancel: threading.Event | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.operation, self.plan, self.on_event = operation, plan, on_event
        self.title = title or operation.capitalize()  # the operation in words, for the cancel message
        self.cancel = cancel or threading.Event()
        self.total = sum(items * work for items, _, work in plan.values())
        self.done, self.updates = 0.0, 0
        self.seconds: dict[str, float] = {}
        self.start_time = time.perf_counter()
        self._eta = Eta()  # its clock starts now, at no work done
        self._stage, self._stage_start, self._completed = "", 0.0, 0

    @property
    def stage(self) -> str:
        """The current stage's name ("first" before any starts)."""
        return self._stage or "first"

    def start(self, stage: str, message: str) -> None:
        """Begin `stage`, logging ``"stage: message"``; raises CancelledError once cancelled."""
        self.check()
        self._finish()
        self._stage, self._stage_start, self._completed = stage, time.perf_counter(), 0
        emit(self.on_event, Log(self.operation, f"{stage}: {message}"))
        self._overall_progress()  # the whole's bar first: it shows above the stages' bars
        self._stage_progress()

    def advance(self, items: int = 1) -> None:
        """`items` more of the current stage are done; raises CancelledError once cancelled."""
        self._completed += items
        self.done += items * self.plan[self._stage][2]
        self.updates += 1
        self._stage_progress()
        self._overall_progress()
        eta = self._eta.update(self.done, self.total)
        if eta is not None:
            elapsed = time.perf_counter() - self.start_time
            emit(self.on_event, Metric(self.operation, self.updates, {"elapsed_s": elapsed, "eta_s": eta}))
        self.check()

    def check(self) -> None:
        """Raise CancelledError, naming the current stage, once `cancel` is set."""
        if self.cancel.is_set():
            raise self.cancelled()

    def cancelled(self) -> CancelledError:
        """The error that says the operation was cancelled in the current stage."""
        return CancelledError(f"{self.title} cancelled during the {self.stage} stage.")

    def finish(self) -> dict[str, float]:
        """Close the current stage; returns the seconds each stage took."""
        self._finish()
        return self.seconds

    def _overall_progress(self) -> None:
        emit(self.on_event, Progress(self.operation, round(self.done, 2), round(self.total, 2), unit=WORK))

    def _stage_progress(self) -> None:
        items, unit, _ = self.plan[self._stage]
        emit(self.on_event, Progress(self.operation, self._completed, items, unit=unit, stage=self._stage))

    def _finish(self) -> None:
        if self._stage:
            self.seconds[self._stage] = time.perf_counter() - self._stage_start
