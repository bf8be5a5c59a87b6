"""The model browser: the curated catalog and Hub search ("Available") beside the local store ("Your models").

A view over `ModelStore` and the runtime: every button is one engine call (download, verify,
remove, load, unload). Downloads run in a worker thread with a live byte progress bar, speed, ETA
and Cancel. Load status comes from the runtime, so a model loaded in the previewer shows as loaded
here too, and the other way round.

    ModelBrowser(previewer=GenerationPreviewer("text"))
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from creator_kit import (
    TASKS,
    CancelledError,
    CatalogEntry,
    CreatorKitError,
    Eta,
    Event,
    InstalledModel,
    InvalidInputError,
    ModelStore,
    Progress,
    UnsafeWeightsError,
    human_size,
    runtime,
    validate,
)
from widgets.generation_previewer import GenerationPreviewer

STATUS_COLOURS = {
    "available": "#555",
    "downloading": "#1565c0",
    "downloaded": "#2e7d32",
    "loaded": "#6a1b9a",
    "custom": "#ef6c00",
    "starter": "#ef6c00",
    "incomplete": "#b26a00",
    "unsafe weights": "#b00020",
}


class ModelCard(w.VBox):
    """One model: what it is, its status, and the buttons that act on it."""

    def __init__(self, browser: ModelBrowser, repo_id: str, task: str | None, details: str, description: str) -> None:
        self.browser = browser
        self.repo_id = repo_id
        self.status = "available"
        self.title = w.HTML()
        self.set_task(task)
        self.details = w.HTML(f"<small>{html.escape(details)}</small>")
        self.about = w.HTML(f"<small><i>{html.escape(description)}</i></small>")
        self.badge = w.HTML()
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
        self.use_button.on_click(lambda _: self.browser.use(self.repo_id, self.task))
        buttons = [self.download_button, self.cancel_button, self.load_button, self.verify_button]
        buttons += [self.delete_button, self.use_button]
        super().__init__(
            [w.HBox([self.title, self.badge]), self.details, self.about, self.progress, w.HBox(buttons), self.message],
            layout={"border": "1px solid #ddd", "padding": "4px", "margin": "2px 0"},
        )

    def set_task(self, task: str | None) -> None:
        """Show `task` (a card added by repo id learns it once the model is downloaded)."""
        self.task = task
        self.title.value = f"<b>{html.escape(self.repo_id)}</b> · {html.escape(task or 'unknown task')}"

    def set_status(self, status: str) -> None:
        """Show `status` and the buttons that make sense in it."""
        self.status = status
        colour = STATUS_COLOURS.get(status.split(" ")[0], "#555")
        self.badge.value = f"<span style='color:{colour};font-weight:bold'>&nbsp;{html.escape(status)}</span>"
        installed = status in ("downloaded", "loaded", "custom", "starter")
        downloading = status.startswith("downloading")
        self.download_button.layout.display = "none" if installed or downloading else None
        self.cancel_button.layout.display = None if downloading else "none"
        self.progress.layout.display = None if downloading else "none"
        for button in (self.load_button, self.verify_button, self.use_button):
            button.layout.display = None if installed else "none"
        self.delete_button.layout.display = None if installed or status == "incomplete" else "none"
        self.load_button.description = "Unload" if status == "loaded" else "Load"

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
                fraction = event.completed / event.total
                self.progress.value = fraction
                self.status = f"downloading {fraction:.0%}"
                self.badge.value = f"<b>&nbsp;downloading {fraction:.0%}</b>"
                eta = etas[0].update(event.completed, event.total)
                if eta is not None:
                    self._say(f"{human_size(etas[0].rate)}/s · ETA {eta:.0f} s")

        status, text, is_error = None, "Downloaded.", False
        try:
            self.browser.store.download(self.repo_id, on_event=on_event, cancel=self._cancel)
        except UnsafeWeightsError as error:
            status, text, is_error = "unsafe weights", str(error), True
        except CancelledError as error:
            text = str(error)
        except CreatorKitError as error:
            text, is_error = str(error), True
        finally:
            self._active = False
        if status:
            self.set_status(status)
        else:
            self.browser.refresh()
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
            loaded = runtime.load_installed(self.repo_id, store=self.browser.store)
        except CreatorKitError as error:
            self._say(str(error), error=True)
        else:
            self._say(f"Loaded on {loaded.device} ({loaded.dtype}), {human_size(loaded.memory_bytes)} in memory.")
        finally:
            self._active = False

    def verify(self) -> None:
        """Re-hash the files against their published checksums (Verify button)."""
        try:
            report = self.browser.store.verify(self.repo_id)
        except CreatorKitError as error:
            self._say(str(error), error=True)
            return
        if report.ok:
            self._say(f"{report.checked_files} files match their published checksums.")
        else:
            self._say(f"{'; '.join(report.problems)}. To repair it, {report.repair}.", error=True)

    def delete(self) -> None:
        """First click asks for confirmation; the second deletes the model from the store (Delete button)."""
        if not self._confirming_delete:
            self._confirming_delete = True
            self.delete_button.description, self.delete_button.button_style = "Confirm delete", "danger"
            self._say("Click again to delete it from the store.")
            return
        self._confirming_delete = False
        self.delete_button.description, self.delete_button.button_style = "Delete", ""
        runtime.unload(self.repo_id)
        try:
            freed = self.browser.store.remove(self.repo_id)
        except CreatorKitError as error:
            self._say(str(error), error=True)
            return
        self.browser.refresh()
        self._say(f"Deleted, {human_size(freed)} freed.")

    def _say(self, text: str, error: bool = False) -> None:
        colour = "#b00020" if error else "#333"
        self.message.value = f"<small style='color:{colour}'>{html.escape(text)}</small>" if text else ""


class ModelBrowser(w.VBox):
    """Available models (catalog, Hub search, any repo id) and your models (installed), as cards."""

    def __init__(self, store: ModelStore | None = None, *, previewer: GenerationPreviewer | None = None) -> None:
        self.store = store or ModelStore()
        self.previewer = previewer
        self.on_use: Callable[[str, str | None], None] | None = None
        self.cards: dict[str, ModelCard] = {}
        self.search_results: list[Any] = []
        self.usage = w.HTML()
        self.task_filter = w.Dropdown(description="Task", options=[("all", ""), *((t, t) for t in TASKS)])
        self.text_filter = w.Text(description="Filter", placeholder="name or words")
        self.query = w.Text(description="Hub search", placeholder="e.g. tiny stable diffusion")
        self.search_button = w.Button(description="Search", icon="search")
        self.repo_id = w.Text(description="Repo id", placeholder="namespace/name")
        self.add_button = w.Button(description="Add", icon="plus")
        self.notice = w.HTML()
        self.available = w.VBox()
        self.headings = {task: w.HTML(f"<b>{task or 'other'}</b>") for task in (*TASKS, None)}  # Available, by task
        self.yours = w.VBox()
        self.task_filter.observe(lambda _: self.render(), "value")
        self.text_filter.observe(lambda _: self.render(), "value")
        self.search_button.on_click(lambda _: self.search())
        self.add_button.on_click(lambda _: self.add(self.repo_id.value.strip()))
        runtime.watch(self._on_runtime_change)
        super().__init__(
            [
                self.usage,
                w.HBox([self.task_filter, self.text_filter]),
                w.HBox([self.query, self.search_button]),
                w.HBox([self.repo_id, self.add_button]),
                self.notice,
                w.HTML("<h4>Your models</h4>"),
                self.yours,
                w.HTML("<h4>Available</h4>"),
                self.available,
            ]
        )
        if self.store.offline:
            self.query.disabled = self.search_button.disabled = True
            self.query.placeholder = "offline: Hub search is off"
        for entry in self.store.catalog():
            self.cards[entry.repo_id] = _catalog_card(self, entry)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the store (and the runtime's loaded models) and redraw."""
        usage = self.store.disk_usage()
        mode = " · <b>offline</b>: installed models only, no network" if self.store.offline else ""
        self.usage.value = (
            f"Store <code>{html.escape(str(self.store.models_dir))}</code>: {usage.models} models, "
            f"{human_size(usage.store_bytes)} used, {human_size(usage.free_bytes)} free{mode}"
        )
        installed = {m.repo_id: m for m in self.store.installed()}
        loaded = set(runtime.loaded())
        for repo_id, model in installed.items():
            card = self.cards.get(repo_id) or self._card_for_installed(model)
            if card.task is None:
                card.set_task(model.task)
            if not card.busy:
                card.set_status("loaded" if repo_id in loaded else model.status)
            card.details.value = f"<small>{human_size(model.size_on_disk)} on disk · commit {model.commit[:12]}</small>"
        for repo_id, card in self.cards.items():
            if repo_id not in installed and not card.busy and card.status != "unsafe weights":
                card.set_status("available")
        self.render()

    def render(self) -> None:
        """Place the cards in their section (Available grouped by task), filtered by task and text."""
        words = self.text_filter.value.lower().split()

        def shown(card: ModelCard) -> bool:
            haystack = f"{card.repo_id} {card.about.value}".lower()
            return self.task_filter.value in ("", card.task) and all(word in haystack for word in words)

        cards = [card for card in self.cards.values() if shown(card)]
        self.yours.children = [c for c in cards if c.status not in ("available", "unsafe weights")]
        available = [c for c in cards if c.status in ("available", "unsafe weights")]
        self.available.children = [
            item
            for task, heading in self.headings.items()
            if (group := [c for c in available if (c.task if c.task in TASKS else None) == task])
            for item in (heading, *group)
        ]

    def search(self) -> None:
        """Search the Hub and add the hits to Available (Search button)."""
        try:
            hits = self.store.search(self.query.value.strip(), task=self.task_filter.value or None)
        except CreatorKitError as error:
            self._notify(str(error), error=True)
            return
        for hit in hits:
            if hit.repo_id not in self.cards:
                self.cards[hit.repo_id] = ModelCard(self, hit.repo_id, hit.task, f"{hit.downloads or 0} downloads", "")
        self._notify(f"{len(hits)} models found.")
        self.refresh()

    def add(self, repo_id: str) -> ModelCard | None:
        """Add a card for any Hub repo id (Add button); Download on it fetches the model."""
        try:
            validate.repo_id(repo_id)
        except InvalidInputError as error:
            self._notify(str(error), error=True)
            return None
        if repo_id not in self.cards:
            self.cards[repo_id] = ModelCard(self, repo_id, None, "size shown after download", "added by id")
        self.refresh()
        return self.cards[repo_id]

    def use(self, repo_id: str, task: str | None) -> None:
        """Select `repo_id` in the connected previewer ("Use in previewer" button)."""
        if self.on_use is not None:
            self.on_use(repo_id, task)
        if self.previewer is None:
            return
        mode = self.previewer.mode
        if task not in mode.tasks:
            self._notify(f"The previewer is in {mode.name} mode; {repo_id} is a {task} model.", error=True)
            return
        mode.refresh_models()
        mode.model.value = repo_id
        self._notify(f"{repo_id} selected in the previewer.")

    def close(self) -> None:
        runtime.unwatch(self._on_runtime_change)
        super().close()

    def _card_for_installed(self, model: InstalledModel) -> ModelCard:
        label = {"starter": "starter model, for trying the workflow offline: download a real model for real results"}
        card = ModelCard(self, model.repo_id, model.task, "", label.get(model.status, model.description))
        self.cards[model.repo_id] = card
        return card

    def _on_runtime_change(self, loaded: list[str]) -> None:
        for repo_id, card in self.cards.items():
            if card.status in ("downloaded", "loaded", "custom", "starter"):
                installed = self.store.get(repo_id) if repo_id not in loaded else None
                card.set_status("loaded" if repo_id in loaded else installed.status)
        self.render()

    def _notify(self, text: str, error: bool = False) -> None:
        colour = "#b00020" if error else "#333"
        self.notice.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"


def _catalog_card(browser: ModelBrowser, entry: CatalogEntry) -> ModelCard:
    details = f"{human_size(entry.size_bytes)} to download · {entry.parameters / 1e6:.0f}M parameters · {entry.license}"
    return ModelCard(browser, entry.repo_id, entry.task, details, entry.description)
