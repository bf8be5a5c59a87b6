"""The one progress protocol: typed events handed to an ``on_event`` callback.

Every long operation (download, load, generate, train, encode) takes ``on_event`` and calls it with
the events below. `TqdmReporter` renders them in terminals and papermill; the widgets render the
same events in JupyterLab.

    store.download("distilbert/distilgpt2", on_event=TqdmReporter())
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm


@dataclass(frozen=True)
class Progress:
    """`completed` of `total` `unit`s done in `task` (and, for multi-part work, in `stage`)."""

    task: str
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

    task: str
    step: int
    values: dict[str, float]
    time: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Preview:
    """An intermediate result worth showing (a decoded latent, a keyframe, a text piece)."""

    task: str
    step: int
    value: Any
    time: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Log:
    """A line for the user."""

    task: str
    message: str
    level: str = "info"
    time: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Done:
    """`task` finished; `result` is what the call returns."""

    task: str
    result: Any = None
    time: float = field(default_factory=time.monotonic)


Event = Progress | Metric | Preview | Log | Done
EventCallback = Callable[[Event], None]


def emit(on_event: EventCallback | None, event: Event) -> None:
    """Hand `event` to `on_event` if there is one."""
    if on_event is not None:
        on_event(event)


class TqdmReporter:
    """Renders events with tqdm: one bar per (task, stage), logs above the bars, metrics as postfix.

    A task's bars close on its Done event (or `close()`).
    """

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self._bars: dict[tuple[str, str | None], tqdm] = {}
        self._tqdm_kwargs = tqdm_kwargs

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._update(event)
        elif isinstance(event, Metric):
            bar = self._latest_bar(event.task)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4g}" for k, v in event.values.items()}, refresh=False)
        elif isinstance(event, Log):
            tqdm.write(f"[{event.task}] {event.message}", file=self._tqdm_kwargs.get("file"))
        elif isinstance(event, Done):
            self.close(event.task)

    def _update(self, event: Progress) -> None:
        key = (event.task, event.stage)
        bar = self._bars.get(key)
        if bar is None:
            is_bytes = event.unit == "B"
            bar = tqdm(
                total=event.total,
                desc=event.stage or event.task,
                unit=event.unit,
                unit_scale=is_bytes,
                unit_divisor=1024 if is_bytes else 1000,
                **self._tqdm_kwargs,
            )
            self._bars[key] = bar
        if event.total is not None and bar.total != event.total:
            bar.total = event.total
        bar.update(event.completed - bar.n)

    def _latest_bar(self, task: str) -> tqdm | None:
        bars = [bar for (bar_task, _), bar in self._bars.items() if bar_task == task]
        return bars[-1] if bars else None

    def close(self, task: str | None = None) -> None:
        """Close the bars of `task` (all bars when None)."""
        for key in [k for k in self._bars if task is None or k[0] == task]:
            self._bars.pop(key).close()
