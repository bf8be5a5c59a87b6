"""A model browser's card: one model, its status, and the buttons that act on it (download, load, verify, delete).

Each button is one engine call (`ModelStore.download`, `ck.load_installed`, `ModelStore.verify`,
`ModelStore.remove`); downloads and loads run in a worker thread, a download with a live byte progress
bar, speed, ETA and Cancel. A model made on this machine (``local/...``) has nothing to download.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import ipywidgets as w
from traitlets import Float, Unicode

import creator_kit as ck
from creator_kit import (
    CancelledError,
    CreatorKitError,
    Eta,
    Event,
    Progress,
    UnsafeWeightsError,
    bench,
    human_size,
    runtime,
)
from widgets.shared.fields import fill_tooltips
from widgets.shared.messages import error_message, notebook_terms
from widgets.shared.style import badge_html, text_html

if TYPE_CHECKING:
    from creator_kit import ModelStore

INSTALLED = ("downloaded", "loaded", "custom", "starter")
#: A card's status while its model is not installed: in the catalog or found on the Hub, added by repo id (so not
#: known to exist until it downloads), or refused for its pickle-only weights.
AVAILABLE, ADDED = "available", "not downloaded"
NOT_INSTALLED = (AVAILABLE, ADDED, "unsafe weights")
LOCAL_PREFIX = "local/"  # models made on this machine: they cannot be downloaded


class ModelCard(w.VBox):
    """One model: what it is, its status, and the buttons that act on it."""

    status = Unicode(AVAILABLE, help="available, not downloaded, downloading n%, downloaded, loaded, custom, ...")
    fraction = Float(0.0, help="how much of the download is done, 0 to 1")

    def __init__(
        self,
        store: ModelStore,
        repo_id: str,
        task: str | None,
        details: str,
        description: str,
        *,
        added: bool = False,
        on_use: Callable[[str, str | None], None],
        on_refresh: Callable[[], None],
    ) -> None:
        """`on_use(repo_id, task)`: the Use button (the browser opens a previewer); `on_refresh()`: after a download,
        when the browser must show the store again; `added`: a card added by repo id, "not downloaded" rather than
        "available" until it is."""
        self.store, self.on_use, self.on_refresh = store, on_use, on_refresh
        self.repo_id = repo_id
        self.not_installed = ADDED if added else AVAILABLE  # its status while the model is not in the store
        self.source_details = details  # what the card says while the model is not installed
        self.title = w.HTML()
        self.set_task(task)
        self.details = w.HTML(f"<small>{html.escape(details)}</small>")
        self.about = w.HTML(f"<small><i>{html.escape(description)}</i></small>")
        self.speed = w.HTML()  # the speed measured here (`creator-kit models bench`), when there is one
        self.badge = w.HTML()
        self.fit = w.HTML()
        self.fit_verdict: str | None = None  # fits, tight or won't fit; "" when unknown (a model never downloaded)
        self.message = w.HTML()
        self.progress = w.FloatProgress(min=0, max=1, layout={"display": "none", "width": "auto"})
        self.download_button = w.Button(description="Download", icon="download")
        self.cancel_button = w.Button(description="Cancel", icon="times", layout={"display": "none"})
        self.load_button = w.Button(description="Load", icon="play")
        self.verify_button = w.Button(description="Verify", icon="check")
        self.delete_button = w.Button(description="Delete", icon="trash")
        self.use_button = w.Button(description="Use in previewer", icon="arrow-right")
        self._confirming_delete = False
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._active = False
        self.download_button.on_click(lambda _: self.download())
        self.cancel_button.on_click(lambda _: self._cancel.set())
        self.load_button.on_click(lambda _: self.toggle_load())
        self.verify_button.on_click(lambda _: self.verify())
        self.delete_button.on_click(lambda _: self.delete())
        self.use_button.on_click(lambda _: self.on_use(self.repo_id, self.task))
        buttons = [self.download_button, self.cancel_button, self.load_button, self.verify_button]
        buttons += [self.delete_button, self.use_button]
        for button in buttons:
            button.layout.width = "auto"
        super().__init__(
            [
                w.HBox([self.title, self.badge, self.fit], layout={"flex_flow": "row wrap", "align_items": "center"}),
                self.details,
                self.about,
                self.speed,
                self.progress,
                w.HBox(buttons, layout={"flex_flow": "row wrap"}),
                self.message,
            ]
        )
        self.add_class("ck-card")
        fill_tooltips(self)
        w.dlink((self, "fraction"), (self.progress, "value"))
        self.status = self.not_installed
        self.observe(lambda _: self._show_status(), "status")
        self._show_status()

    def set_task(self, task: str | None) -> None:
        """Show `task` (a card added by repo id learns it once the model is downloaded)."""
        self.task = task
        task_html = f"<span class='ck-muted'> · {html.escape(task or 'unknown task')}</span>"
        self.title.value = f"<b>{html.escape(self.repo_id)}</b>{task_html}"

    def set_status(self, status: str) -> None:
        """Show `status` and the buttons that make sense in it."""
        self.status = status

    def show_fit(self, verdict: str, needed: int, available: int) -> None:
        """Show whether the model fits this machine's free memory (`needed` and `available` bytes)."""
        self.fit_verdict = verdict
        self.fit.value = badge_html(verdict, f"needs {human_size(needed)} of memory, {human_size(available)} free")

    def show_speed(self) -> None:
        """Show the speed measured on this machine (`bench.here`), if the model is installed and was measured."""
        try:
            measured = bench.here(self.repo_id, store=self.store) if self.status in INSTALLED else []
        except CreatorKitError:
            measured = []
        summary = measured[0].summary() if measured else ""
        self.speed.value = text_html(summary[:1].upper() + summary[1:], small=True)

    def _show_status(self) -> None:
        status = self.status
        self.show_speed()
        self.badge.value = badge_html(status)
        installed = status in INSTALLED
        downloading = status.startswith("downloading")
        local = self.repo_id.startswith(LOCAL_PREFIX)
        self.download_button.layout.display = "none" if installed or downloading or local else None
        self.cancel_button.layout.display = None if downloading else "none"
        self.progress.layout.display = None if downloading else "none"
        for button in (self.load_button, self.verify_button, self.use_button):
            button.layout.display = None if installed else "none"
        self.delete_button.layout.display = None if installed or status == "incomplete" else "none"
        self.load_button.description = "Unload" if status == "loaded" else "Load"
        self.load_button.icon = "eject" if status == "loaded" else "memory"

    @property
    def busy(self) -> bool:
        """A download or load of this card is under way."""
        return self._active

    def wait(self, timeout: float | None = None) -> None:
        """Block until the card's download or load finishes (for scripts and tests)."""
        if self._worker is not None:
            self._worker.join(timeout)

    def download(self) -> None:
        """Download into the store in a worker thread, with byte progress, speed and ETA (Download button)."""
        if self.busy:
            return
        self._cancel = threading.Event()
        self.set_status("downloading 0%")
        self._say("")
        self._start(self._download)

    def _download(self) -> None:
        etas: list[Eta] = []  # made at the first progress event: bytes already on disk are not speed

        def on_event(event: Event) -> None:
            if isinstance(event, Progress) and event.total:
                if not etas:
                    etas.append(Eta(event.completed))
                self.fraction = event.completed / event.total
                self.status = f"downloading {self.fraction:.0%}"
                eta = etas[0].update(event.completed, event.total)
                if eta is not None:
                    self._say(f"{human_size(etas[0].rate)}/s · ETA {eta:.0f} s")

        status, text, is_error = None, "Downloaded.", False
        try:
            self.store.download(self.repo_id, on_event=on_event, cancel=self._cancel)
        except UnsafeWeightsError as error:
            status, text, is_error = "unsafe weights", error_message(error), True
        except CancelledError as error:
            text = str(error)
        except CreatorKitError as error:
            text, is_error = error_message(error), True
        finally:
            self._active = False
        if status:
            self.set_status(status)
        else:
            self.on_refresh()  # the store told the browser already, while this card was still busy
        self._say(text, error=is_error)

    def toggle_load(self) -> None:
        """Load the model with its task's engine, or unload it (Load / Unload button)."""
        if self.busy:
            return
        if self.status == "loaded":
            runtime.unload(self.repo_id)
            return
        self._say("Loading…")
        self._start(self._load)

    def _start(self, work: Callable[[], None]) -> None:
        self._active = True
        self._worker = threading.Thread(target=work, daemon=True)
        self._worker.start()

    def _load(self) -> None:
        try:
            loaded = ck.load_installed(self.repo_id, store=self.store)  # the engines load on the first click
        except CreatorKitError as error:
            self._say(error_message(error), error=True)
        else:
            self._say(f"Loaded on {loaded.device} ({loaded.dtype}), {human_size(loaded.memory_bytes)} in memory.")
        finally:
            self._active = False

    def verify(self) -> None:
        """Re-hash the files against their checksums, the Hub's or those recorded when the model was saved here
        (Verify button)."""
        try:
            report = self.store.verify(self.repo_id)
        except CreatorKitError as error:
            self._say(error_message(error), error=True)
            return
        if report.ok:
            self._say(report.summary())
        else:
            self._say(notebook_terms(f"{report.summary()} To repair it, {report.repair}."), error=True)

    def delete(self) -> None:
        """First click asks for confirmation; the second deletes the model from the store (Delete button)."""
        if not self._confirming_delete:
            self._confirming_delete = True
            self.delete_button.description, self.delete_button.button_style = "Confirm delete", "danger"
            self._say("Click again to delete it from the store.")
            return
        self._confirming_delete = False
        self.delete_button.description, self.delete_button.button_style = "Delete", ""
        try:
            freed = self.store.remove(self.repo_id)  # the runtime unloads it; every view drops it
        except CreatorKitError as error:
            self._say(error_message(error), error=True)
            return
        self._say(f"Deleted, {human_size(freed)} freed.")

    def _say(self, text: str, error: bool = False) -> None:
        self.message.value = text_html(text, error=error, small=True)
