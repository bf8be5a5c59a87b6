"""The model browser: the curated catalog and Hub search ("Available") beside the local store ("Your models").

A view over `ModelStore` and the runtime: every button is one engine call (search, download, verify,
remove, load, unload, refresh). Network work runs in worker threads so the kernel stays live: a download
with a live byte progress bar, speed, ETA and Cancel; a search shows "Searching…" and can be cancelled,
and fails within seconds without a network. The browser watches the store and the runtime, so a model
downloaded, made (a fine-tune, a starter), deleted, loaded or unloaded anywhere in this process shows at
once; Refresh re-reads the store after another process changed it, and the previewers refresh with it.

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
    CatalogEntry,
    CreatorKitError,
    InstalledModel,
    InvalidInputError,
    ModelStore,
    StoreChange,
    WrongTaskError,
    human_size,
    runtime,
    validate,
)
from widgets.generation_previewer import GenerationPreviewer
from widgets.model_card import INSTALLED, LOCAL_PREFIX, ModelCard
from widgets.shared.background import BackgroundRun
from widgets.shared.fields import fill_tooltips
from widgets.shared.fits import assess_in_background
from widgets.shared.messages import error_message
from widgets.shared.snapshot import Snapshot
from widgets.shared.style import card_grid, grid_heading, section_heading, style_panel, text_html


class ModelBrowser(Snapshot, BackgroundRun, w.VBox):
    """Available models (catalog, Hub search, any repo id) and your models (installed), as cards in a grid.

    Its state is in traits: `message` and `error` (the notice line), `working` (a search is under way).
    Filters: task, words, downloaded only, and fits this machine (worked out in a worker thread from the
    catalog's figures or the installed files, never the network).
    """

    snapshot_title = "Model browser"

    def __init__(self, store: ModelStore | None = None, *, previewer: GenerationPreviewer | None = None) -> None:
        self.store = store or ModelStore()
        self.previewer = previewer
        self.on_use: Callable[[str, str | None], None] | None = None
        self.cards: dict[str, ModelCard] = {}
        self.search_results: list[Any] = []
        self._search_cancel = threading.Event()
        self.usage = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh", tooltip="re-read the models folder")
        self.task_filter = w.Dropdown(description="Task", options=[("all", ""), *((t, t) for t in TASKS)])
        self.text_filter = w.Text(description="Filter", placeholder="name or words")
        self.downloaded_filter = w.Checkbox(
            False, description="downloaded only", indent=False, layout={"width": "auto"}
        )
        self.fit_filter = w.Checkbox(
            False, description="fits this machine", indent=False, layout={"width": "auto"},
            tooltip="only the models whose weights fit in this machine's free memory",
        )  # fmt: skip
        self._assessing: threading.Thread | None = None
        self.query = w.Text(description="Hub search", placeholder="e.g. tiny stable diffusion")
        self.search_button = w.Button(description="Search", icon="search")
        self.cancel_search_button = w.Button(description="Cancel", icon="times", layout={"display": "none"})
        self.repo_id = w.Text(description="Repo id", placeholder="namespace/name")
        self.add_button = w.Button(description="Add", icon="plus")
        self.notice = w.HTML()
        self.available = card_grid().add_class("ck-available")
        self.headings = {task: grid_heading(f"<b>{task or 'other'}</b>") for task in (*TASKS, None)}  # by task
        self.yours = card_grid().add_class("ck-yours")
        self.task_filter.observe(lambda _: self.render(), "value")
        self.text_filter.observe(lambda _: self.render(), "value")
        self.downloaded_filter.observe(lambda _: self.render(), "value")
        self.fit_filter.observe(lambda _: self.render(), "value")
        self.refresh_button.on_click(lambda _: self.store.refresh())
        self.search_button.on_click(lambda _: self.search())
        self.cancel_search_button.on_click(lambda _: self.cancel_search())
        self.add_button.on_click(lambda _: self.add(self.repo_id.value.strip()))
        super().__init__(
            [
                w.HBox([self.usage, self.refresh_button]),
                w.HBox([self.task_filter, self.text_filter, self.downloaded_filter, self.fit_filter]),
                w.HBox([self.query, self.search_button, self.cancel_search_button]),
                w.HBox([self.repo_id, self.add_button]),
                self.notice,
                section_heading("Your models"),
                self.yours,
                section_heading("Available"),
                self.available,
            ]
        )
        style_panel(self, "model-browser")
        fill_tooltips(self)
        if self.store.offline:
            self.query.disabled = self.search_button.disabled = True
            self.query.placeholder = "offline: Hub search is off"
        for entry in self.store.catalog():
            self.cards[entry.repo_id] = self._card(
                entry.repo_id, entry.task, _catalog_details(entry), entry.description
            )
        self.observe(lambda _: self._show_notice(), names=["message", "error"])
        self.observe(lambda _: self._show_working(), names="working")
        self.store.watch(self._on_store_change)
        runtime.watch(self._on_runtime_change)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the store (and the runtime's loaded models) and redraw; cards of models that are gone go too."""
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
            card.show_speed()  # figures measured since the last refresh (`bench.run` refreshes the store)
        for repo_id, card in list(self.cards.items()):
            if repo_id in installed or card.busy:
                continue
            if repo_id.startswith(LOCAL_PREFIX):
                del self.cards[repo_id]  # made on this machine, so it cannot be downloaded: it is gone
            elif card.status != "unsafe weights":
                card.set_status("available")
                card.details.value = f"<small>{html.escape(card.source_details)}</small>"
        self.render()
        self._assess_fits()

    def render(self) -> None:
        """Place the cards in their section (Available grouped by task), filtered by task and text."""
        words = self.text_filter.value.lower().split()

        def shown(card: ModelCard) -> bool:
            haystack = f"{card.repo_id} {card.about.value}".lower()
            return (
                self.task_filter.value in ("", card.task)
                and all(word in haystack for word in words)
                and (card.status in INSTALLED or not self.downloaded_filter.value)
                and (card.fit_verdict in ("fits", "tight") or not self.fit_filter.value)
            )

        cards = [card for card in list(self.cards.values()) if shown(card)]
        self.yours.children = [c for c in cards if c.status not in ("available", "unsafe weights")]
        available = [c for c in cards if c.status in ("available", "unsafe weights")]
        self.available.children = [
            item
            for task, heading in self.headings.items()
            if (group := [c for c in available if (c.task if c.task in TASKS else None) == task])
            for item in (heading, *group)
        ]

    def search(self) -> None:
        """Search the Hub in a worker thread and add the hits to Available (Search button); `wait` waits for it."""
        if self.running:
            return
        self._search_cancel, self.error, self.working = threading.Event(), None, True
        self.message = "Searching…"
        query, task = self.query.value.strip(), self.task_filter.value or None
        self._worker = threading.Thread(target=self._search, args=(query, task, self._search_cancel), daemon=True)
        self._worker.start()

    def cancel_search(self) -> None:
        """Stop waiting for the search; its answer, if one still comes, is ignored (Cancel button)."""
        self._search_cancel.set()
        self.working, self.error, self.message = False, None, "Search cancelled."

    def latest_result(self) -> list[Any]:
        """The last search's hits (what `wait` and `finish` return)."""
        return self.search_results

    def add(self, repo_id: str) -> ModelCard | None:
        """Add a card for any Hub repo id (Add button); Download on it fetches the model."""
        try:
            validate.repo_id(repo_id)
            if repo_id.startswith(LOCAL_PREFIX) and repo_id not in self.cards:
                raise InvalidInputError(
                    f"{repo_id} would be a model made on this machine (a fine-tune, a starter model): it cannot be "
                    "downloaded. Models you make appear under Your models by themselves."
                )
        except InvalidInputError as error:
            self._fail(error)
            return None
        if repo_id not in self.cards:
            self.cards[repo_id] = self._card(repo_id, None, "size shown after download", "added by id")
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
            self._fail(WrongTaskError(f"The previewer is in {mode.name} mode; {repo_id} is a {task} model."))
            return
        mode.refresh_models()
        mode.model.value = repo_id
        self.error, self.message = None, f"{repo_id} selected in the previewer."

    def close(self) -> None:
        """Stop following the store and the runtime, and close the panel's widget."""
        self.store.unwatch(self._on_store_change)
        runtime.unwatch(self._on_runtime_change)
        super().close()

    def _search(self, query: str, task: str | None, cancel: threading.Event) -> None:
        hits, failure, unexpected = [], None, False
        try:
            hits = self.store.search(query, task=task)
        except CreatorKitError as error:
            failure = error
        except Exception as error:  # shown in the panel: a widget callback must never dump a traceback
            failure, unexpected = error, True
        if cancel.is_set():
            return  # Cancel has said so and freed the panel already
        self.working = False
        if failure is not None:
            self._fail(failure, unexpected)
            return
        self.search_results = hits
        for hit in hits:
            if hit.repo_id not in self.cards:
                details = f"{hit.downloads or 0} downloads"
                self.cards[hit.repo_id] = self._card(hit.repo_id, hit.task, details, "")
        self.error, self.message = None, f"{len(hits)} models found."
        self.refresh()

    def _assess_fits(self) -> None:
        """Work out whether the cards' models fit this machine (in a worker thread), for the cards that do not say."""
        if self._assessing is not None and self._assessing.is_alive():
            return
        unknown = [c for c in list(self.cards.values()) if not c.fit_verdict]
        cards = [c for c in unknown if c.fit_verdict is None or c.status in INSTALLED]  # "": tried, not installed
        if cards:
            self._assessing = assess_in_background(self.store, cards, lambda: self.fit_filter.value and self.render())

    def _card_for_installed(self, model: InstalledModel) -> ModelCard:
        label = {"starter": "starter model, for trying the workflow offline: download a real model for real results"}
        about = label.get(model.status, model.description)
        card = self._card(model.repo_id, model.task, "", about)
        self.cards[model.repo_id] = card
        return card

    def _on_store_change(self, change: StoreChange) -> None:
        """The store's watcher (it runs inside the engine call that changed the store, so it never raises)."""
        try:
            self.refresh()
        except CreatorKitError as error:
            self._fail(error)

    def _on_runtime_change(self, loaded: list[str]) -> None:
        for repo_id, card in list(self.cards.items()):
            if card.status in INSTALLED:
                card.set_status("loaded" if repo_id in loaded else self._installed_status(repo_id))
        self.render()

    def _installed_status(self, repo_id: str) -> str:
        """The store's status of `repo_id` ("available" once it is gone)."""
        try:
            return self.store.get(repo_id).status
        except CreatorKitError:
            return "available"

    def _fail(self, error: Exception, unexpected: bool = False) -> None:
        self.error = error
        self.message = error_message(error, unexpected=unexpected)

    def _card(self, repo_id: str, task: str | None, details: str, description: str) -> ModelCard:
        return ModelCard(self.store, repo_id, task, details, description, on_use=self.use, on_refresh=self.refresh)

    def _show_working(self) -> None:
        self.search_button.disabled = self.working or self.store.offline
        self.cancel_search_button.layout.display = None if self.working else "none"

    def _show_notice(self) -> None:
        self.notice.value = text_html(self.message, error=self.error is not None)


def _catalog_details(entry: CatalogEntry) -> str:
    return f"{human_size(entry.size_bytes)} to download · {entry.parameters / 1e6:.0f}M parameters · {entry.license}"
