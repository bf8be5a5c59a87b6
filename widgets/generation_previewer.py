"""The generation previewer: pick a model, set parameters, generate, watch the result arrive.

A view over the engine: each Generate is one engine call (`text.stream`, `image.generate`) that a
notebook cell could make itself ("Copy parameters as code" writes that call). Generation runs in a
worker thread so the kernel stays responsive; Stop sets the cancel event and the engine stops after
the current token or sampling step. Modes supply their controls, output and engine call, each in a file
of its own (`text_mode`, `image_mode`, `video_mode`).

    GenerationPreviewer()                 # in a notebook cell
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w

from creator_kit import CreatorKitError, InvalidInputError, ModelStore
from widgets.background import BackgroundRun
from widgets.image_mode import ImageMode
from widgets.text_mode import TextMode
from widgets.video_mode import VideoMode

MODES = {"text": TextMode, "image": ImageMode, "video": VideoMode}  # each in its own file


class GenerationPreviewer(BackgroundRun, w.VBox):
    """The panel. `history` holds the results of this session, newest last; `error`, the last run's failure."""

    def __init__(self, mode: str = "text", *, store: ModelStore | None = None) -> None:
        if mode not in MODES:
            raise InvalidInputError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
        self.mode = MODES[mode](store or ModelStore())
        self.history: list[Any] = []
        self.error: Exception | None = None  # why the last generation failed, if it did
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self.generate_button = w.Button(description="Generate", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.refresh_button = w.Button(description="Refresh models", icon="refresh")
        self.status = w.HTML()
        self.history_list = w.Select(description="History", options=[], rows=5, layout={"width": "auto"})
        self.copy_button = w.Button(
            description="Copy parameters as code", icon="code", disabled=True, layout={"width": "max-content"}
        )
        self.code = w.Textarea(layout={"width": "auto", "height": "10em", "display": "none"})
        self.generate_button.on_click(lambda _: self.generate())
        self.stop_button.on_click(lambda _: self.stop())
        self.refresh_button.on_click(lambda _: self.mode.refresh_models())
        self.copy_button.on_click(lambda _: self.copy_code())
        self.history_list.observe(lambda change: self._select(change["new"]), "value")
        super().__init__(
            [
                self.mode.controls,
                w.HBox([self.generate_button, self.stop_button, self.refresh_button]),
                self.status,
                self.mode.output,
                *([self.mode.gallery] if hasattr(self.mode, "gallery") else []),
                self.history_list,
                self.copy_button,
                self.code,
            ]
        )

    def generate(self) -> None:
        """Start a generation from the controls' values in a worker thread (Generate button)."""
        if self.running:
            return
        try:
            request = self.mode.request()
        except CreatorKitError as error:
            self._error(error)
            return
        self._cancel, self.error = threading.Event(), None
        self.generate_button.disabled, self.stop_button.disabled = True, False
        self._worker = threading.Thread(target=self._run, args=(request, self._cancel), daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Ask the running generation to stop after the current token (Stop button)."""
        self._cancel.set()
        self.stop_button.disabled = True
        self._set_status("Stopping…")

    def latest_result(self) -> Any:
        """The newest result of this session (what `wait` and `finish` return)."""
        return self.history[-1] if self.history else None

    def copy_code(self) -> None:
        """Show the engine call that reproduces the selected result (Copy parameters as code button)."""
        index = self.history_list.value
        if index is None:
            return
        self.code.value = self.mode.code(self.history[index])
        self.code.layout.display = None

    def _run(self, request: dict[str, Any], cancel: threading.Event) -> None:
        try:
            result = self.mode.run(request, cancel, self._set_status)
        except CreatorKitError as error:
            self._error(error)
        except Exception as error:  # shown in the panel: a widget callback must never dump a traceback
            self._error(error, unexpected=True)
        else:
            self.mode.show_result(result)
            self.history.append(result)
            self.history_list.options = [(self.mode.describe(r), i) for i, r in enumerate(self.history)]
            self.history_list.value = len(self.history) - 1
            self.copy_button.disabled = False
            self._set_status(self.mode.summary(result))
        finally:
            self.generate_button.disabled, self.stop_button.disabled = False, True

    def _select(self, index: int | None) -> None:
        if index is not None:
            self.mode.show_result(self.history[index])
            self._set_status(self.mode.summary(self.history[index]))
            if self.code.layout.display is None:
                self.copy_code()

    def _set_status(self, message: str) -> None:
        self.status.value = f"<span>{html.escape(message)}</span>"

    def _error(self, error: Exception, unexpected: bool = False) -> None:
        self.error = error
        prefix = f"Unexpected {type(error).__name__}: " if unexpected else ""
        self.status.value = f"<span style='color:#b00020'>{html.escape(prefix + str(error))}</span>"
