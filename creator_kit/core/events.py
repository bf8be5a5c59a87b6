"""The one progress protocol: typed events handed to an ``on_event`` callback.

Every long operation (download, load, generate, train, encode) takes ``on_event`` and calls it with
the events below; each event names its `operation` ("download", "train", "video"...). `TqdmReporter`
renders them in terminals and papermill; the widgets render the same events in JupyterLab. `Eta`
is the one estimate of the time left, for engines and panels alike; `Stages` reports work done in
named stages (a video's keyframes, motion, encode) with it.

    with TqdmReporter() as reporter:
        store.download("distilbert/distilgpt2", on_event=reporter)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from creator_kit.core.errors import CancelledError


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


class TqdmReporter:
    """Renders events with tqdm: one bar per (operation, stage), logs above the bars, metrics as postfix.

    An operation's bars close on its Done event; used as a context manager, every bar closes at the end,
    whatever happened.
    """

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self._bars: dict[tuple[str, str | None], tqdm] = {}
        self._tqdm_kwargs = tqdm_kwargs

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._update(event)
        elif isinstance(event, Metric):
            bar = self._latest_bar(event.operation)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4g}" for k, v in event.values.items()}, refresh=False)
        elif isinstance(event, Log):
            tqdm.write(f"[{event.operation}] {event.message}", file=self._tqdm_kwargs.get("file"))
        elif isinstance(event, Done):
            self.close(event.operation)

    def __enter__(self) -> TqdmReporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _update(self, event: Progress) -> None:
        key = (event.operation, event.stage)
        bar = self._bars.get(key)
        if bar is None:
            is_bytes = event.unit == "B"
            bar = tqdm(
                total=event.total,
                desc=event.stage or event.operation,
                unit=event.unit,
                unit_scale=is_bytes,
                unit_divisor=1024 if is_bytes else 1000,
                **self._tqdm_kwargs,
            )
            self._bars[key] = bar
        if event.total is not None and bar.total != event.total:
            bar.total = event.total
        bar.update(event.completed - bar.n)

    def _latest_bar(self, operation: str) -> tqdm | None:
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
        self._stage_progress()

    def advance(self, items: int = 1) -> None:
        """`items` more of the current stage are done; raises CancelledError once cancelled."""
        self._completed += items
        self.done += items * self.plan[self._stage][2]
        self.updates += 1
        self._stage_progress()
        emit(self.on_event, Progress(self.operation, round(self.done, 2), round(self.total, 2), unit="work"))
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

    def _stage_progress(self) -> None:
        items, unit, _ = self.plan[self._stage]
        emit(self.on_event, Progress(self.operation, self._completed, items, unit=unit, stage=self._stage))

    def _finish(self) -> None:
        if self._stage:
            self.seconds[self._stage] = time.perf_counter() - self._stage_start
