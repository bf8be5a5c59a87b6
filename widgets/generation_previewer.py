"""The generation previewer: pick a model, set parameters, generate, watch the result arrive.

A view over the engine: each Generate is one engine call (`text.stream`, `image.generate`) that a
notebook cell could make itself ("Parameters as code" shows that call, ready to copy). Generation runs in a
worker thread so the kernel stays responsive; Stop sets the cancel event and the engine stops after
the current token or sampling step. Modes supply their controls, output and engine call, each in a file
of its own (`text_mode`, `image_mode`, `video_mode`). Every result is saved with its manifest to the
outputs folder as soon as it is made, and `outputs` lists the saved ones of the mode, also those of
earlier sessions: Open shows one with the settings that made it back in the controls, Delete takes it off the
screen too (History, gallery, preview). A Stop is a status, not an error. The model pickers follow the store
and the runtime: a model downloaded, made or deleted anywhere in this process, or loaded and unloaded, shows
at once.

    GenerationPreviewer()                 # in a notebook cell
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
from traitlets import Any as AnyTrait
from traitlets import Float, Unicode

from creator_kit import CreatorKitError, InvalidInputError, ModelStore, StoreChange, runtime
from widgets.image_mode import ImageMode
from widgets.outputs_list import OutputsList
from widgets.parts import run_name, status_html
from widgets.shared.background import BackgroundRun
from widgets.shared.fields import fill_tooltips, round_sliders
from widgets.shared.messages import error_message
from widgets.shared.snapshot import Snapshot
from widgets.shared.style import style_panel, text_html
from widgets.text_mode import TextMode
from widgets.video_mode import VideoMode

if TYPE_CHECKING:
    from creator_kit import Output

MODES = {"text": TextMode, "image": ImageMode, "video": VideoMode}  # each in its own file
#: Under the code of a result: how to take it (a button in the kernel cannot write the browser's clipboard).
CODE_HINT = "Click in the box, select all (Ctrl+A) and copy (Ctrl+C): run in a cell, the code makes this result again."


class GenerationPreviewer(Snapshot, BackgroundRun, w.VBox):
    """The panel. `history` holds the results of this session, newest last; `error`, the last run's failure.

    Its state is in traits (`message`, `error`, `working`, `fraction`, `selected_model`, `result`) that the
    engine's callbacks set and the status line, the progress bar and the buttons observe.
    """

    fraction = Float(0.0, help="how far the run is, 0 to 1 (tokens, sampling steps, video work)")
    selected_model = Unicode(None, allow_none=True, help="the model picked in the mode's model picker")
    result = AnyTrait(None, allow_none=True, help="the newest result of this session")

    def __init__(self, mode: str = "text", *, store: ModelStore | None = None) -> None:
        if mode not in MODES:
            raise InvalidInputError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
        self.mode = MODES[mode](store or ModelStore())
        self.history: list[Any] = []
        self.history_paths: list[Path | None] = []  # where each result of `history` was saved (None: it was not)
        self.saved: Path | None = None  # where the newest result was saved, with its manifest
        self.shown: Path | None = None  # the saved file of what the output shows
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self.generate_button = w.Button(description="Generate", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.refresh_button = w.Button(description="Refresh models", icon="refresh")
        self.status = w.HTML()
        self.progress = w.FloatProgress(min=0.0, max=1.0, layout={"width": "auto", "visibility": "hidden"})
        self.outputs = OutputsList(self.mode.name, self._open, self._forget)
        self.history_list = w.Select(description="History", options=[], rows=5, layout={"width": "auto"})
        self.code_button = w.Button(
            description="Parameters as code",
            icon="code",
            disabled=True,
            tooltip="the engine call that makes the selected result again",
            layout={"width": "max-content"},
        )
        self.code = w.Textarea(layout={"width": "auto", "height": "10em"})
        self.code_hint = w.HTML(text_html(CODE_HINT, small=True))
        self.code_box = w.VBox([self.code, self.code_hint], layout={"display": "none"})
        self.generate_button.on_click(lambda _: self.generate())
        self.stop_button.on_click(lambda _: self.stop())
        self.refresh_button.on_click(lambda _: self.mode.store.refresh())
        self.code_button.on_click(lambda _: self.show_code())
        self.history_list.observe(lambda change: self._select(change["new"]), "value")
        super().__init__(
            [
                self.mode.controls,
                w.HBox([self.generate_button, self.stop_button, self.refresh_button]),
                self.status,
                self.progress,
                self.mode.output,
                *([self.mode.gallery] if hasattr(self.mode, "gallery") else []),
                self.history_list,
                self.code_button,
                self.code_box,
                self.outputs,
            ]
        )
        style_panel(self, f"{self.mode.name}-previewer")
        fill_tooltips(self)
        round_sliders(self)
        self.observe(self._show_status, names=["message", "error"])
        self.observe(self._show_working, names="working")
        w.dlink((self, "fraction"), (self.progress, "value"))
        w.link((self.mode.model, "value"), (self, "selected_model"))
        self.mode.store.watch(self._models_changed)
        runtime.watch(self._models_changed)
        if hasattr(self.mode, "gallery"):
            self.mode.restore_gallery(self.outputs.items)

    def generate(self) -> None:
        """Start a generation from the controls' values in a worker thread (Generate button)."""
        if self.running:
            return
        try:
            request = self.mode.request()
        except CreatorKitError as error:
            self._fail(error)
            return
        self._cancel, self.error, self.fraction, self.working = threading.Event(), None, 0.0, True
        self._worker = threading.Thread(target=self._run, args=(request, self._cancel), daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Ask the running generation to stop after the current token (Stop button)."""
        self._cancel.set()
        self.stop_button.disabled = True
        self.message = "Stopping…"

    def latest_result(self) -> Any:
        """The newest result of this session (what `wait` and `finish` return)."""
        return self.history[-1] if self.history else None

    def show_code(self) -> None:
        """Show the engine call that reproduces the selected result, to copy (Parameters as code button)."""
        index = self.history_list.value
        if index is None:
            return
        self.code.value = self.mode.code(self.history[index])
        self.code_box.layout.display = None

    def close(self) -> None:
        """Stop following the store and the runtime, and close the panel's widget."""
        if hasattr(self, "mode"):  # a panel refused at construction (unknown mode) watches nothing
            self.mode.store.unwatch(self._models_changed)
            runtime.unwatch(self._models_changed)
        super().close()

    def _run(self, request: dict[str, Any], cancel: threading.Event) -> None:
        try:
            result = self.mode.run(request, cancel, self._report)
        except CreatorKitError as error:
            self._fail(error)
        except Exception as error:  # shown in the panel: a widget callback must never dump a traceback
            self._fail(error, unexpected=True)
        else:
            self._keep(result)
        finally:
            self.working = False

    def _keep(self, result: Any) -> None:
        """Save `result` with its manifest to the outputs folder, then record it in the history and show it."""
        try:
            saved, failure = self.mode.save(result), None
        except CreatorKitError as error:
            saved, failure = None, error
        self.history.append(result)
        self.history_paths.append(saved)
        self.result = result
        self._list_history()
        self.history_list.value = len(self.history) - 1  # a new index: `_select` shows it
        if failure is not None:
            self._fail(failure)
            return
        self.saved = saved
        self.outputs.refresh()
        self.message = f"{self.message} · saved as {saved.name}"

    def _list_history(self) -> None:
        self.history_list.value = None  # nothing selected while the options change (else the first would show)
        self.history_list.options = [(run_name(result.manifest), i) for i, result in enumerate(self.history)]
        self.code_button.disabled = not self.history

    def _open(self, output: Output) -> None:
        """Show a saved output (the outputs list's Open) with the settings that made it back in the controls."""
        self.mode.open(output)
        self.shown, self.history_list.value = output.path, None
        self.error, self.message = None, f"Opened {output.path.name}: the controls hold the settings that made it."

    def _forget(self, paths: list[Path]) -> None:
        """Take deleted outputs off the screen (the outputs list's Delete): History, the gallery, the output."""
        kept = [i for i, path in enumerate(self.history_paths) if path is None or path not in paths]
        if len(kept) < len(self.history):
            self.history = [self.history[i] for i in kept]
            self.history_paths = [self.history_paths[i] for i in kept]
            self._list_history()
        if self.shown in paths:
            self.mode.clear()
            self.shown, self.code_box.layout.display = None, "none"
        if hasattr(self.mode, "gallery"):
            self.mode.forget(paths)

    def _select(self, index: int | None) -> None:
        if index is not None:
            self.mode.show_result(self.history[index])
            self.shown = self.history_paths[index]
            self.error, self.message = None, self.mode.summary(self.history[index])
            if self.code_box.layout.display is None:
                self.show_code()

    def _report(self, message: str, fraction: float | None = None) -> None:
        self.message = message
        if fraction is not None:
            self.fraction = fraction

    def _fail(self, error: Exception, unexpected: bool = False) -> None:
        self.error = error
        self.message = error_message(error, unexpected=unexpected)

    def _models_changed(self, _change: StoreChange | list[str]) -> None:
        """Re-list the models (the store's and the runtime's watcher: it runs inside the engine call that changed
        them, so it never raises)."""
        try:
            self.mode.refresh_models()
        except CreatorKitError as error:
            self._fail(error)

    def _show_working(self, _change: object = None) -> None:
        self.generate_button.disabled, self.stop_button.disabled = self.working, not self.working
        self.progress.layout.visibility = "visible" if self.working else "hidden"

    @property
    def snapshot_title(self) -> str:
        return f"Generation previewer, {self.mode.name} mode"

    def _show_status(self, _change: object = None) -> None:
        self.status.value = status_html(self.message, self.error)
