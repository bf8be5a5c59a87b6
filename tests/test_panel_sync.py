"""The panels in JupyterLab's way: a Hub search never blocks the kernel, and every panel follows the store."""

from __future__ import annotations

import logging
import shutil
import socket
import time

import pytest
from conftest import TINY_GPT2, TINY_SD
from olah_hub import free_port

from creator_kit import ModelStore, NetworkError, runtime, text
from creator_kit.library import hub
from creator_kit.train import TrainingConfig
from widgets import GenerationPreviewer, ModelBrowser, TrainingMonitor
from widgets.model_browser import ModelCard

WAIT_S = 60


def section(browser: ModelBrowser, name: str) -> list[str]:
    return [card.repo_id for card in getattr(browser, name).children if isinstance(card, ModelCard)]


def picker(previewer: GenerationPreviewer) -> list[str]:
    return [repo_id for _, repo_id in previewer.mode.model.options]


@pytest.fixture
def silent_hub(monkeypatch):
    """A Hub endpoint on loopback that accepts connections and never answers (a network that hangs); a search
    waits a second for its answer (five by default)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(hub, "SEARCH_ANSWER_S", 1.0)
    yield
    listener.close()


@pytest.fixture
def browser(installed_store):
    runtime.unload_all()  # models earlier tests left loaded would show as loaded here
    browser = ModelBrowser(installed_store)
    yield browser
    browser.close()
    runtime.unload_all()


# ---------------------------------------------------------------------------------------------- search


def test_search_without_a_network_fails_at_once_without_retries(monkeypatch, caplog):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # a closed port
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), pytest.raises(NetworkError, match="Could not reach"):
        hub.search("gpt")
    assert time.monotonic() - started < 2.0
    assert not [record for record in caplog.records if "Retrying" in record.getMessage()]


def test_search_of_a_hub_that_hangs_gives_up_once_it_waited_for_the_answer(silent_hub):
    started = time.monotonic()
    with pytest.raises(NetworkError):
        hub.search("gpt")
    assert 1.0 <= time.monotonic() - started < 2.0


def test_search_runs_in_the_background_while_other_buttons_work(browser, silent_hub):
    browser.query.value = "gpt"
    started = time.monotonic()
    browser.search_button.click()
    assert time.monotonic() - started < 0.5  # control comes back at once
    assert browser.running and "Searching…" in browser.notice.value
    assert browser.search_button.disabled and browser.cancel_search_button.layout.display is None

    browser.task_filter.value = "text-to-image"  # another control's callback runs during the search
    assert browser.running and section(browser, "yours") == [TINY_SD]
    card = browser.cards[TINY_GPT2]
    browser.task_filter.value = ""
    card.load_button.click()  # so does Load of an installed model
    card.wait(WAIT_S)
    assert card.status == "loaded"

    browser.wait(WAIT_S)
    assert time.monotonic() - started < 2.0 + 0.5  # the search's own timeout, and the slack of a busy machine
    assert "Could not reach" in browser.notice.value and isinstance(browser.error, NetworkError)
    assert "ck.configure(offline=True)" in browser.notice.value and "--offline" not in browser.notice.value
    assert not browser.search_button.disabled and browser.cancel_search_button.layout.display == "none"


def test_cancel_frees_the_panel_and_the_late_answer_is_ignored(browser, silent_hub):
    browser.query.value = "gpt"
    browser.search_button.click()
    browser.cancel_search_button.click()
    assert "Search cancelled" in browser.notice.value and not browser.working
    assert not browser.search_button.disabled
    browser.wait(WAIT_S)
    assert "Search cancelled" in browser.notice.value and browser.error is None


# ---------------------------------------------------------------------------------------------- one source of truth


def test_a_deleted_local_model_leaves_no_ghost_anywhere(browser, installed_store, hub):
    installed_store.register_local("quickstart", hub.sources[TINY_GPT2], task="text-generation")
    previewer = GenerationPreviewer(store=installed_store)
    assert "local/quickstart" in section(browser, "yours") and "local/quickstart" in picker(previewer)
    card = browser.cards["local/quickstart"]
    assert card.download_button.layout.display == "none"  # made here: there is nothing to download
    text.load_model("local/quickstart")
    assert ("local/quickstart (loaded)", "local/quickstart") in previewer.mode.model.options

    card.delete_button.click()
    card.delete_button.click()

    assert "local/quickstart" not in runtime.loaded()  # a removed model is unloaded too
    assert "local/quickstart" not in browser.cards
    assert "local/quickstart" not in section(browser, "yours") + section(browser, "available")
    assert "local/quickstart" not in picker(previewer)
    assert not any("(loaded)" in label for label, _ in previewer.mode.model.options)
    assert browser.add("local/quickstart") is None and "cannot be" in browser.notice.value


def test_a_model_made_by_another_store_of_the_same_folder_shows_at_once(browser, installed_store, hub):
    previewer = GenerationPreviewer(store=installed_store)
    other = ModelStore(installed_store.models_dir / ".." / installed_store.models_dir.name)  # same folder, other path
    other.register_local("poet", hub.sources[TINY_GPT2], task="text-generation")
    assert "local/poet" in section(browser, "yours") and "local/poet" in picker(previewer)
    other.remove("local/poet")
    assert "local/poet" not in browser.cards and "local/poet" not in picker(previewer)


def test_a_fine_tune_shows_in_the_browser_and_the_previewer_without_a_refresh(browser, installed_store, training_text):
    previewer = GenerationPreviewer(store=installed_store)
    config = TrainingConfig(
        model=TINY_GPT2, data=str(training_text), name="tuned", block_size=32, batch_size=4, max_steps=4, eval_every=4
    )
    monitor = TrainingMonitor(config)
    monitor.train_button.click()
    assert monitor.wait(WAIT_S) is not None
    assert "local/tuned" in section(browser, "yours") and browser.cards["local/tuned"].status == "custom"
    assert "local/tuned" in picker(previewer)


def test_changes_by_hand_show_after_refresh(browser, installed_store, tmp_path):
    previewer = GenerationPreviewer("image", store=installed_store)
    folder = installed_store.models_dir / "models--tiny--sd"
    aside = tmp_path / "aside"
    shutil.move(folder, aside)  # another process (or a hand) takes the model away: no one is told
    assert TINY_SD in section(browser, "yours") and TINY_SD in picker(previewer)

    browser.refresh_button.click()
    assert TINY_SD in section(browser, "available") and TINY_SD not in picker(previewer)
    card = browser.cards[TINY_SD]
    assert "on disk" not in card.details.value and card.download_button.layout.display is None

    shutil.move(aside, folder)
    previewer.refresh_button.click()  # the previewer's Refresh refreshes the browser too: one store
    assert TINY_SD in section(browser, "yours") and picker(previewer) == [TINY_SD]


def test_the_monitor_follows_its_base_model_in_the_store(installed_store, training_text):
    monitor = TrainingMonitor(TrainingConfig(model=TINY_GPT2, data=str(training_text), name="later"))
    assert "Ready to train tiny/gpt2" in monitor.status.value
    installed_store.remove(TINY_GPT2)
    assert "tiny/gpt2 is not installed" in monitor.status.value
    assert "ck.ModelStore().download('tiny/gpt2')" in monitor.message  # the status line shows the trait
