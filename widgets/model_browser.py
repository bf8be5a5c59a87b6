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
    with_article,
)
from widgets.generation_previewer import GenerationPreviewer
from widgets.model_card import INSTALLED, LOCAL_PREFIX, NOT_INSTALLED, ModelCard
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
        self.task_filter = w.Dropdown(
            description="Task", options=[("All", ""), *((t, t) for t in TASKS)], tooltip="show one task's models"
        )
        self.text_filter = w.Text(
            description="Filter", placeholder="name or words", tooltip="words in a model's name or description"
        )
        self.downloaded_filter = w.Checkbox(
            False, description="Downloaded only", indent=False, layout={"width": "auto"},
            tooltip="only the models in your store",
        )  # fmt: skip
        self.fit_filter = w.Checkbox(
            False, description="Fits this machine", indent=False, layout={"width": "auto"},
            tooltip="only the models whose weights fit in this machine's free memory",
        )  # fmt: skip
        self._assessing: threading.Thread | None = None
        self.query = w.Text(
            description="Hub search", placeholder="e.g. tiny stable diffusion", tooltip="words to look for on the Hub"
        )
        self.search_button = w.Button(description="Search", icon="search")
        self.cancel_search_button = w.Button(description="Cancel", icon="times", layout={"display": "none"})
        self.repo_id = w.Text(
            description="Repo id", placeholder="namespace/name", tooltip="any model on the Hub, by its repo id"
        )
        self.add_button = w.Button(description="Add", icon="plus", tooltip="add a card for it under Available")
        self.added: str | None = None  # the card added last: shown whatever the filters, until they change
        self.notice = w.HTML()
        self.available = card_grid().add_class("ck-available")
        self.headings = {task: grid_heading(f"<b>{task or 'other'}</b>") for task in (*TASKS, None)}  # by task
        self.yours = card_grid().add_class("ck-yours")
        for control in (self.task_filter, self.text_filter, self.downloaded_filter, self.fit_filter):
            control.observe(lambda _: self._filters_changed(), "value")
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
                card.set_status(card.not_installed)
                card.details.value = f"<small>{html.escape(card.source_details)}</small>"
        self.render()
        self._assess_fits()

    def render(self) -> None:
        """Place the cards in their section (Available grouped by task), filtered; the card added last shows
        whatever the filters."""
        cards = [c for c in list(self.cards.values()) if c.repo_id == self.added or not self.hiding_filters(c)]
        self.yours.children = [c for c in cards if c.status not in NOT_INSTALLED]
        available = [c for c in cards if c.status in NOT_INSTALLED]
        self.available.children = [
            item
            for task, heading in self.headings.items()
            if (group := [c for c in available if (c.task if c.task in TASKS else None) == task])
            for item in (heading, *group)
        ]

    def hiding_filters(self, card: ModelCard) -> list[str]:
        """The labels of the filters that hide `card` (none: it is shown)."""
        haystack = f"{card.repo_id} {card.about.value}".lower()
        hidden_by = {
            self.task_filter: self.task_filter.value not in ("", card.task),
            self.text_filter: not all(word in haystack for word in self.text_filter.value.lower().split()),
            self.downloaded_filter: self.downloaded_filter.value and card.status not in INSTALLED,
            self.fit_filter: self.fit_filter.value and card.fit_verdict not in ("fits", "tight"),
        }
        return [control.description for control, hides in hidden_by.items() if hides]

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
        """Add a card for any Hub repo id (Add button), and say where it is; Download on it fetches the model. The
        card shows even where the filters would hide it, until they change."""
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
        card = self.cards.get(repo_id)
        if card is None:
            card = self.cards[repo_id] = self._card(repo_id, None, "size shown after download", "added by id", True)
            said = f"Added {repo_id} under Available, with other tasks' models until its task is known: Download it."
        else:
            section = "Available" if card.status in NOT_INSTALLED else "Your models"
            said = f"{repo_id} is listed already, under {section}."
        self.added = repo_id
        self.refresh()
        hiding = self.hiding_filters(card)
        if hiding:
            said += f" Shown although the filters would hide it ({', '.join(hiding)})."
        self.error, self.message = None, said
        return card

    def use(self, repo_id: str, task: str | None) -> None:
        """Select `repo_id` in the connected previewer ("Use in previewer" button)."""
        if self.on_use is not None:
            self.on_use(repo_id, task)
        if self.previewer is None:
            return
        mode = self.previewer.mode
        if task not in mode.tasks:
            kind = with_article(task or "unknown")
            self._fail(WrongTaskError(f"The previewer is in {mode.name} mode; {repo_id} is {kind} model."))
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
        """The store's status of `repo_id` (its card's status for a model not installed, once it is gone)."""
        try:
            return self.store.get(repo_id).status
        except CreatorKitError:
            return self.cards[repo_id].not_installed

    def _fail(self, error: Exception, unexpected: bool = False) -> None:
        self.error = error
        self.message = error_message(error, unexpected=unexpected)

    def _filters_changed(self) -> None:
        self.added = None  # the filters the user set now rule
        self.render()

    def _card(self, repo_id: str, task: str | None, details: str, description: str, added: bool = False) -> ModelCard:
        return ModelCard(
            self.store, repo_id, task, details, description, added=added, on_use=self.use, on_refresh=self.refresh
        )

    def _show_working(self) -> None:
        self.search_button.disabled = self.working or self.store.offline
        self.cancel_search_button.layout.display = None if self.working else "none"

    def _show_notice(self) -> None:
        self.notice.value = text_html(self.message, error=self.error is not None)


def _catalog_details(entry: CatalogEntry) -> str:
    return f"{human_size(entry.size_bytes)} to download · {entry.parameters / 1e6:.0f}M parameters · {entry.license}"
