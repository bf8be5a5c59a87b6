"""The generation previewer panel (text mode), driven through its widgets' callbacks."""

from __future__ import annotations

import time

import pytest
from conftest import TINY_GPT2

from creator_kit import InvalidInputError, runtime, text
from widgets import GenerationPreviewer

WAIT_S = 60


@pytest.fixture
def panel(text_store) -> GenerationPreviewer:
    panel = GenerationPreviewer(store=text_store)
    panel.mode.prompt.value = "Once upon a time"
    panel.mode.seed.value = "3"
    panel.mode.params["max_new_tokens"].value = 12
    return panel


def _wait_for(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_model_picker_lists_installed_text_models_with_their_status(text_store, hub, tmp_path):
    text_store.register_local("painter", hub.sources[TINY_GPT2], task="text-to-image")
    runtime.unload(TINY_GPT2)
    panel = GenerationPreviewer(store=text_store)
    assert panel.mode.model.options == ((f"{TINY_GPT2} (downloaded)", TINY_GPT2),)

    text.load_model(TINY_GPT2)
    panel.refresh_button.click()
    assert panel.mode.model.options == ((f"{TINY_GPT2} (loaded)", TINY_GPT2),)


def test_presets_set_the_parameter_controls(panel):
    panel.mode.preset.value = "precise"
    assert panel.mode.params["do_sample"].value is False
    panel.mode.preset.value = "creative"
    assert panel.mode.params["do_sample"].value is True
    assert panel.mode.params["temperature"].value == text.PRESETS["creative"]["temperature"]
    assert panel.mode.params["top_k"].value == 0


def test_generate_streams_into_the_output_and_records_history(panel):
    expected = text.generate("Once upon a time", model=TINY_GPT2, max_new_tokens=12, seed=3)

    panel.generate_button.click()
    assert panel.generate_button.disabled and not panel.stop_button.disabled
    panel.wait(WAIT_S)

    assert not panel.running
    assert not panel.generate_button.disabled and panel.stop_button.disabled
    assert panel.mode.output.value == expected.text
    assert [r.text for r in panel.history] == [expected.text]
    assert "tokens/s" in panel.status.value and "seed 3" in panel.status.value
    assert panel.history_list.options[0][1] == 0 and panel.history_list.value == 0


def test_stop_ends_the_generation_and_keeps_the_text_so_far(panel):
    panel.mode.params["max_new_tokens"].value = 115
    panel.generate_button.click()
    _wait_for(lambda: panel.mode.output.value)
    panel.stop_button.click()
    assert panel.stop_button.disabled
    panel.wait(WAIT_S)

    (result,) = panel.history
    assert result.finish_reason == "cancelled" and result.new_tokens < 115
    assert panel.mode.output.value == result.text
    assert "(stopped)" in panel.status.value
    assert not panel.generate_button.disabled


def test_copy_parameters_as_code_reproduces_the_result(panel):
    panel.mode.preset.value = "creative"
    panel.mode.stop_strings.value = "zz, qq"
    panel.generate_button.click()
    panel.wait(WAIT_S)
    panel.copy_button.click()

    code = panel.code.value
    assert "text.generate(" in code and "seed=3" in code and "stop=['zz', 'qq']" in code
    namespace: dict = {}
    exec(compile(code.replace("print(result.text)", ""), "<copied>", "exec"), namespace)
    assert namespace["result"].text == panel.history[0].text


def test_selecting_history_shows_that_result(panel):
    panel.generate_button.click()
    panel.wait(WAIT_S)
    panel.mode.seed.value = "4"
    panel.generate_button.click()
    panel.wait(WAIT_S)
    first, second = panel.history
    assert first.text != second.text

    panel.history_list.value = 0
    assert panel.mode.output.value == first.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: setattr(p.mode.prompt, "value", ""), "The prompt must be non-empty text"),
        (lambda p: setattr(p.mode.seed, "value", "abc"), "The seed must be a whole number"),
        (lambda p: setattr(p.mode.params["max_new_tokens"], "value", 125), "reads at most 128 tokens"),
        (lambda p: setattr(p.mode.model, "options", []), "No text model is installed"),
    ],
)
def test_errors_show_in_the_panel_without_a_traceback(panel, change, message):
    change(panel)
    panel.generate_button.click()
    panel.wait(WAIT_S)

    assert message in panel.status.value and "Traceback" not in panel.status.value
    assert not panel.generate_button.disabled and panel.stop_button.disabled
    assert panel.history == []


def test_unknown_mode_is_refused(text_store):
    with pytest.raises(InvalidInputError, match="choose one of text"):
        GenerationPreviewer("hologram", store=text_store)
