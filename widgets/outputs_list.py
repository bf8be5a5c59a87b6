"""The saved outputs of one kind, newest first, as a panel part: open one, reproduce it, delete it.

A view over `creator_kit.outputs` (the listing, delete) and `creator_kit.reproduce`: Open shows the file in
the panel, Reproduce runs its manifest again in a worker thread (Cancel stops it) and says in one line
whether it came out the same, Delete (after a confirming second click) removes it with its sidecar and tells
the panel (`on_delete`), which takes it off the screen. Each output is named as History names a run (`run_name`).

    OutputsList("image", on_open=lambda output: print(output.path), on_delete=print)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import ipywidgets as w

import creator_kit as ck
from creator_kit import CreatorKitError, Reproduction, outputs
from widgets.parts import run_name, status_html
from widgets.shared.background import BackgroundRun
from widgets.shared.messages import error_message

#: How many outputs the list shows (the newest).
SHOWN = 50


class OutputsList(BackgroundRun, w.VBox):
    """Saved outputs of `kind` from the outputs folder; `reproduction` is the last Reproduce's answer."""

    def __init__(
        self,
        kind: str,
        on_open: Callable[[outputs.Output], None],
        on_delete: Callable[[list[Path]], None],
        *,
        limit: int = SHOWN,
    ) -> None:
        self.kind, self.on_open, self.on_delete, self.limit = kind, on_open, on_delete, limit
        self.items: list[outputs.Output] = []
        self.reproduction: Reproduction | None = None
        self._cancel = threading.Event()
        self._confirming_delete = False
        self.select = w.Select(description="Saved", options=[], rows=5, layout={"width": "auto"})
        self.open_button = w.Button(description="Open", icon="folder-open")
        self.reproduce_button = w.Button(description="Reproduce", icon="redo")
        self.cancel_button = w.Button(description="Cancel", icon="times", layout={"display": "none"})
        self.delete_button = w.Button(description="Delete", icon="trash")
        self.status = w.HTML()
        self.open_button.on_click(lambda _: self.open_output())
        self.reproduce_button.on_click(lambda _: self.reproduce())
        self.cancel_button.on_click(lambda _: self._cancel.set())
        self.delete_button.on_click(lambda _: self.delete())
        self.select.observe(lambda _: self._confirm_delete(False), "value")
        self.observe(self._show_status, names=["message", "error"])
        self.observe(self._show_working, names="working")
        super().__init__(
            [
                self.select,
                w.HBox([self.open_button, self.reproduce_button, self.cancel_button, self.delete_button]),
                self.status,
            ]
        )
        self.refresh()

    @property
    def selected(self) -> outputs.Output | None:
        """The output picked in the list."""
        index = self.select.value
        return self.items[index] if index is not None and index < len(self.items) else None

    def refresh(self) -> None:
        """Read the outputs folder again, keeping the selection (after a run saved a result, or a delete)."""
        picked = self.selected
        try:
            self.items = outputs.listing(self.kind, limit=self.limit)
        except CreatorKitError as error:
            self._fail(error)
            return
        self.select.options = [(run_name(item.manifest), index) for index, item in enumerate(self.items)]
        paths = [item.path for item in self.items]
        self.select.value = paths.index(picked.path) if picked is not None and picked.path in paths else None

    def open_output(self) -> None:
        """Show the selected output in the panel (Open button)."""
        picked = self._picked()
        if picked is None:
            return
        try:
            self.on_open(picked)
        except CreatorKitError as error:
            self._fail(error)
            return
        self.error, self.message = None, f"Showing {picked.path.name}."

    def reproduce(self) -> None:
        """Run the selected output's manifest again in a worker thread and compare (Reproduce button)."""
        picked = self._picked()
        if picked is None or self.running:
            return
        self._cancel, self.error, self.working = threading.Event(), None, True
        self.message = f"Reproducing {picked.path.name}…"
        self._worker = threading.Thread(target=self._reproduce, args=(picked, self._cancel), daemon=True)
        self._worker.start()

    def delete(self) -> None:
        """First click asks for confirmation; the second deletes the output and its sidecar (Delete button)."""
        picked = self._picked()
        if picked is None:
            return
        if not self._confirming_delete:
            self._confirm_delete(True)
            self.error, self.message = None, f"Click again to delete {picked.path.name} and its manifest."
            return
        self._confirm_delete(False)
        try:
            deleted = outputs.delete(picked.path)
        except CreatorKitError as error:
            self._fail(error)
            return
        self.refresh()
        self.on_delete(deleted)
        self.error, self.message = None, f"Deleted {', '.join(path.name for path in deleted)}."

    def latest_result(self) -> Reproduction | None:
        """The last Reproduce's answer (what `wait` and `finish` return)."""
        return self.reproduction

    def _reproduce(self, picked: outputs.Output, cancel: threading.Event) -> None:
        try:
            self.reproduction = ck.reproduce(picked.path, cancel=cancel)
        except CreatorKitError as error:
            self._fail(error)
        except Exception as error:  # shown in the panel: a widget callback must never dump a traceback
            self._fail(error, unexpected=True)
        else:
            self.message = self.reproduction.summary()
        finally:
            self.working = False

    def _picked(self) -> outputs.Output | None:
        picked = self.selected
        if picked is None:
            self.error, self.message = None, "Pick a saved output in the list first."
        return picked

    def _confirm_delete(self, confirming: bool) -> None:
        self._confirming_delete = confirming
        self.delete_button.description = "Confirm delete" if confirming else "Delete"
        self.delete_button.button_style = "danger" if confirming else ""

    def _fail(self, error: Exception, unexpected: bool = False) -> None:
        self.error = error
        self.message = error_message(error, unexpected=unexpected)

    def _show_working(self, _change: object = None) -> None:
        self.reproduce_button.disabled = self.working
        self.cancel_button.layout.display = None if self.working else "none"

    def _show_status(self, _change: object = None) -> None:
        self.status.value = status_html(self.message, self.error, small=True)
