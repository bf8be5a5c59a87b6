"""The model browser panel, driven through its buttons against the test hub and a real store."""

from __future__ import annotations

import pytest
from conftest import BIG, PICKLE_ONLY, TINY_GPT2, TINY_SD

from creator_kit import TASKS, ModelStore, configure, runtime, text
from widgets import GenerationPreviewer
from widgets.model_browser import ModelBrowser, ModelCard

WAIT_S = 120


@pytest.fixture
def browser(hub, store):
    configure(models_dir=store.models_dir)
    browser = ModelBrowser(store)
    yield browser
    browser.close()
    runtime.unload_all()


def section(browser, name):
    return [card.repo_id for card in getattr(browser, name).children if isinstance(card, ModelCard)]


def test_catalog_cards_are_available_and_filterable(browser):
    available = section(browser, "available")
    assert "distilbert/distilgpt2" in available and "stabilityai/sd-turbo" in available
    assert section(browser, "yours") == []
    card = browser.cards["distilbert/distilgpt2"]
    assert card.status == "available" and "MB to download" in card.details.value and "apache-2.0" in card.details.value
    assert card.download_button.layout.display is None and card.load_button.layout.display == "none"
    headings = [c.value for c in browser.available.children if not isinstance(c, ModelCard)]
    assert headings == [f"<b>{task}</b>" for task in TASKS]  # Available is grouped by task, in catalog order

    browser.task_filter.value = "text-to-video"
    assert section(browser, "available") and all(
        browser.cards[r].task == "text-to-video" for r in section(browser, "available")
    )
    browser.task_filter.value = ""
    browser.text_filter.value = "distilled gpt-2"
    assert section(browser, "available") == ["distilbert/distilgpt2"]
    assert "0 models" in browser.usage.value and "free" in browser.usage.value


def test_download_by_id_shows_progress_then_moves_to_your_models(browser, hub):
    card = browser.add(BIG)
    assert card is not None and section(browser, "available")[-1] == BIG
    fractions = []
    card.progress.observe(lambda change: fractions.append(change["new"]), "value")

    card.download_button.click()
    assert card.status.startswith("downloading") and card.cancel_button.layout.display is None
    card.wait(WAIT_S)

    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert card.status == "downloaded" and BIG in section(browser, "yours")
    assert "MB/s" in card.message.value or "Downloaded" in card.message.value
    assert browser.store.is_installed(BIG)
    assert "1 models" in browser.usage.value


def test_cancel_keeps_the_partial_download(browser, hub):
    card = browser.add(BIG)
    card.download_button.click()
    card.progress.observe(lambda change: change["new"] > 0.1 and card.cancel_button.click(), "value")
    card.wait(WAIT_S)
    assert card.status == "incomplete" and "resume" in card.message.value
    assert card.delete_button.layout.display is None and card.download_button.layout.display is None


def test_unsafe_repo_card_says_so(browser, hub):
    card = browser.add(PICKLE_ONLY)
    card.download_button.click()
    card.wait(WAIT_S)
    assert card.status == "unsafe weights" and "--allow-pickle" in card.message.value
    assert PICKLE_ONLY in section(browser, "available")


def test_bad_repo_id_is_refused_in_place(browser):
    assert browser.add("../etc") is None
    assert "not a valid model id" in browser.notice.value


def test_verify_and_delete_with_confirmation(browser, hub):
    browser.store.download(TINY_GPT2)
    browser.refresh()
    card = browser.cards[TINY_GPT2]
    card.verify_button.click()
    assert "match their published checksums" in card.message.value

    card.delete_button.click()
    assert browser.store.is_installed(TINY_GPT2) and card.delete_button.description == "Confirm delete"
    card.delete_button.click()
    assert not browser.store.is_installed(TINY_GPT2)
    assert card.status == "available" and "freed" in card.message.value


def test_load_in_the_browser_shows_in_the_previewer_and_back(browser, hub):
    browser.store.download(TINY_GPT2)
    browser.refresh()
    previewer = GenerationPreviewer(store=browser.store)
    card = browser.cards[TINY_GPT2]

    card.load_button.click()
    card.wait(WAIT_S)
    assert card.status == "loaded" and card.load_button.description == "Unload"
    previewer.refresh_button.click()
    assert previewer.mode.model.options == ((f"{TINY_GPT2} (loaded)", TINY_GPT2),)

    runtime.unload(TINY_GPT2)
    assert card.status == "downloaded"
    text.load_model(TINY_GPT2)  # as the previewer's Generate does
    assert card.status == "loaded"
    card.load_button.click()
    assert card.status == "downloaded" and TINY_GPT2 not in runtime.loaded()


def test_use_in_previewer_selects_the_model(browser, hub):
    for repo_id in (TINY_GPT2, TINY_SD):
        browser.store.download(repo_id)
    browser.refresh()
    previewer = GenerationPreviewer("image", store=browser.store)
    browser.previewer = previewer

    browser.cards[TINY_SD].use_button.click()
    assert previewer.mode.model.value == TINY_SD and "selected" in browser.notice.value
    browser.cards[TINY_GPT2].use_button.click()
    assert "image mode" in browser.notice.value and previewer.mode.model.value == TINY_SD


def test_offline_disables_hub_search_plainly(tmp_path):
    store = ModelStore(tmp_path / "models", offline=True)
    browser = ModelBrowser(store)
    try:
        assert browser.query.disabled and browser.search_button.disabled
        assert "offline" in browser.usage.value and "offline" in browser.query.placeholder
    finally:
        browser.close()


def test_search_failure_shows_in_the_panel(browser):
    browser.query.value = "gpt"
    browser.search_button.click()  # the olah mirror has no search endpoint
    browser.wait(WAIT_S)  # the search runs in a worker thread
    assert "did not answer like the Hub API" in browser.notice.value


def test_a_model_added_by_id_learns_its_task_once_downloaded_and_can_be_used(browser, hub):
    browser.previewer = GenerationPreviewer("text", store=browser.store)
    card = browser.add(TINY_GPT2)
    assert card.task is None and "unknown task" in card.title.value

    card.download_button.click()
    card.wait(WAIT_S)
    card.use_button.click()

    assert card.task == "text-generation" and "text-generation" in card.title.value
    assert browser.previewer.mode.model.value == TINY_GPT2 and "selected" in browser.notice.value


def test_add_says_where_the_card_is_and_shows_it_past_the_filters(browser, hub):
    browser.downloaded_filter.value = browser.fit_filter.value = True  # both hide a model never downloaded
    card = browser.add(BIG)

    assert BIG in section(browser, "available") and card.status == "not downloaded"
    assert ">not downloaded<" in card.badge.value and "available" not in card.badge.value
    said = browser.notice.value
    assert f"Added {BIG} under Available" in said and "Downloaded only, Fits this machine" in said, said
    assert browser.add(BIG) is card and "listed already, under Available" in browser.notice.value

    browser.fit_filter.value = False  # the user's filters rule again
    assert BIG not in section(browser, "available") and browser.hiding_filters(card) == ["Downloaded only"]


def test_verify_says_which_checksums_a_model_made_here_matches(browser, hub):
    downloaded = browser.store.download(TINY_GPT2)
    made = browser.store.register_local("mine", downloaded.path, task="text-generation")
    browser.refresh()
    for repo_id, checked in ((TINY_GPT2, "their published checksums"), (made.repo_id, "the checksums recorded")):
        card = browser.cards[repo_id]
        card.verify_button.click()
        assert f"files match {checked}" in card.message.value, card.message.value
    assert "published" not in browser.cards[made.repo_id].message.value


def test_a_model_of_another_task_is_named_with_its_article(browser, hub):
    browser.store.download(TINY_SD)
    browser.refresh()
    browser.previewer = GenerationPreviewer("text", store=browser.store)
    browser.cards[TINY_SD].use_button.click()
    assert f"{TINY_SD} is a text-to-image model" in browser.notice.value
