"""Panel state in traits that the views observe, messages in notebook terms, and the smaller behaviours."""

from __future__ import annotations

import html
import re

import pytest
from conftest import TINY_GPT2, TINY_SD

from creator_kit import text_params
from creator_kit.train import TrainingConfig
from widgets import GenerationPreviewer, TrainingMonitor
from widgets.parts import seconds
from widgets.shared.messages import notebook_terms

WAIT_S = 120


@pytest.fixture
def panel(installed_store) -> GenerationPreviewer:
    panel = GenerationPreviewer(store=installed_store)
    panel.mode.prompt.value, panel.mode.seed.value = "Once upon a time", "3"
    panel.mode.params["max_new_tokens"].value = 10
    return panel


def test_the_panel_state_is_in_traits_that_the_views_observe(panel):
    fractions, working = [], []
    panel.observe(lambda change: fractions.append(change["new"]), "fraction")
    panel.observe(lambda change: working.append(change["new"]), "working")
    panel.generate_button.click()
    result = panel.finish(WAIT_S)

    assert working == [True, False] and panel.result is result
    assert fractions and fractions == sorted(fractions) and panel.progress.value == panel.fraction > 0
    assert html.escape(panel.message) in panel.status.value and "tokens/s" in panel.message
    assert panel.selected_model == TINY_GPT2 == panel.mode.model.value
    panel.mode.model.options = [("a", "a"), ("b", "b")]
    panel.selected_model = "b"  # the trait drives the picker, and the other way round
    assert panel.mode.model.value == "b"


def test_a_preset_changes_the_length_only_when_it_sets_one(panel):
    panel.mode.params["max_new_tokens"].value = 12
    panel.mode.preset.value = "creative"
    assert panel.mode.params["max_new_tokens"].value == 12
    text_params.add_preset("short", max_new_tokens=16, do_sample=False)
    try:
        panel.mode.apply_preset("short")
        assert panel.mode.params["max_new_tokens"].value == 16
    finally:
        del text_params.PRESETS["short"]


def test_errors_in_a_panel_speak_notebook_terms(panel):
    panel.mode.model.options = [("tiny/missing", "tiny/missing")]
    panel.generate_button.click()
    panel.wait(WAIT_S)
    assert "is not installed" in panel.message and "ck.ModelStore().download('tiny/missing')" in panel.message
    assert "creator-kit models" not in panel.message and panel.error is not None
    assert html.escape(panel.message) in panel.status.value


def test_notebook_terms_replace_cli_commands_and_flags_but_keep_both_forms():
    assert (
        notebook_terms("Check HF_ENDPOINT, or use --offline.")
        == "Check HF_ENDPOINT, or use ck.configure(offline=True)."
    )
    assert (
        notebook_terms("Go online (unset HF_HUB_OFFLINE, drop --offline).")
        == "Go online (ck.configure(offline=False))."
    )
    assert notebook_terms("run `creator-kit models starter --force`") == "run `ck.build_starters(force=True)`"
    kept = "download it with --allow-pickle (allow_pickle=True)"
    assert notebook_terms(kept) == kept


def test_a_new_video_run_clears_the_last_clip_and_shows_the_written_scenes(installed_store):
    panel = GenerationPreviewer("video", store=installed_store)
    mode = panel.mode
    mode.model.value, mode.text_model.value = TINY_SD, TINY_GPT2
    mode.idea.value, mode.n_scenes.value = "a fox in the snow", 2
    mode.duration.value, mode.fps.value, mode.seed.value = 1.0, 4, "5"
    mode.width.value, mode.height.value = 32, 32
    panel.generate_button.click()
    first = panel.finish(WAIT_S)
    assert mode.player.value and all(html.escape(scene) in mode.scene_list.value for scene in first.scenes)

    players = []
    mode.player.observe(lambda change: players.append(bytes(change["new"])), "value")
    mode.seed.value = "6"
    panel.generate_button.click()
    panel.finish(WAIT_S)
    assert players[0] == b"" and players[-1] == mode.player.value != b""


def test_the_monitor_says_when_training_has_started(installed_store, training_text):
    config = TrainingConfig(
        model=TINY_GPT2, data=str(training_text), name="started", block_size=32, batch_size=4, max_steps=4
    )
    monitor = TrainingMonitor(config, redraw_interval=0.05)
    messages = []
    monitor.observe(lambda change: messages.append(change["new"]), "message")
    monitor.train_button.click()
    assert monitor.wait(WAIT_S) is not None
    loading = messages.index("Loading the model and the data…")
    started = next(i for i, message in enumerate(messages) if message.startswith("Training has started"))
    assert loading < started < len(messages) - 1 and messages[-1].startswith("Done: local/started")
    assert (monitor.progress.value, monitor.progress.max) == (monitor.step, monitor.total_steps) == (4, 4)


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


@pytest.mark.parametrize("mode", ["text", "image", "video"])
def test_previewer_labels_are_in_sentence_case_and_tooltips_add_to_them(installed_store, mode):
    panel = GenerationPreviewer(mode, store=installed_store)
    labelled = [widget for widget in _walk(panel) if getattr(widget, "description", "")]
    assert len(labelled) > 10
    for widget in labelled:
        first, *rest = widget.description.split()
        assert first[0].isupper() and all(word.islower() or word.isupper() for word in rest), widget.description
        tooltip = widget.tooltip
        assert tooltip is not None, f"{widget.description!r} shows 'null' on hover"
        assert tooltip == "" or _words(tooltip) - _words(widget.description), f"{widget.description!r}: {tooltip!r}"


def test_run_lines_give_durations_as_people_write():
    assert (seconds(0.0172), seconds(0.9994), seconds(2.44)) == ("17 ms", "999 ms", "2.4 s")
