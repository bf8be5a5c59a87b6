"""The generation previewer panel (text mode), driven through its widgets' callbacks."""

from __future__ import annotations

import io
import time

import pytest
from conftest import TINY_GPT2

from creator_kit import CancelledError, CreatorKitError, InvalidInputError, runtime, text
from widgets import GenerationPreviewer

WAIT_S = 60


@pytest.fixture
def panel(installed_store) -> GenerationPreviewer:
    panel = GenerationPreviewer(store=installed_store)
    panel.mode.prompt.value = "Once upon a time"
    panel.mode.seed.value = "3"
    panel.mode.params["max_new_tokens"].value = 12
    return panel


def _wait_for(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_model_picker_lists_installed_text_models_with_their_status(installed_store, hub, tmp_path):
    installed_store.register_local("painter", hub.sources[TINY_GPT2], task="text-to-image")
    runtime.unload(TINY_GPT2)
    panel = GenerationPreviewer(store=installed_store)
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
    assert f"Stopped after {result.new_tokens} tokens" in panel.status.value  # a status, not an error
    assert "ck-error" not in panel.status.value and panel.error is None
    assert not panel.generate_button.disabled


def test_parameters_as_code_reproduces_the_result_with_the_preset_shown_and_round_values(panel):
    panel.mode.preset.value = "creative"
    panel.mode.stop_strings.value = "zz, qq"
    panel.mode.params["temperature"].set_state({"value": 0.7000000000000001})  # what the browser's slider sends
    assert panel.code_box.layout.display == "none" and panel.code_button.disabled
    panel.generate_button.click()
    panel.wait(WAIT_S)
    panel.code_button.click()

    code = panel.code.value
    assert panel.code_box.layout.display is None and "Ctrl+C" in panel.code_hint.value
    assert "text.generate(" in code and "seed=3" in code and "stop=['zz', 'qq']" in code
    assert "preset='creative'" in code and "temperature=0.7,\n" in code and "00000" not in code
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
    assert panel.mode.output.value == first.text and f"seed {first.manifest.seed}" in panel.status.value


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
    assert panel.wait(WAIT_S) is None

    assert message in panel.status.value and "Traceback" not in panel.status.value
    assert isinstance(panel.error, CreatorKitError) and message in str(panel.error)
    assert not panel.generate_button.disabled and panel.stop_button.disabled
    assert panel.history == []

    panel.mode.prompt.value, panel.mode.seed.value = "Once", "1"
    panel.mode.params["max_new_tokens"].value = 4
    panel.mode.refresh_models()
    panel.generate_button.click()
    assert panel.wait(WAIT_S) is panel.history[-1] and panel.error is None  # the next run clears the error


def test_unknown_mode_is_refused(installed_store):
    with pytest.raises(InvalidInputError, match="choose one of text"):
        GenerationPreviewer("hologram", store=installed_store)


# ---------------------------------------------------------------------------------------------- image mode


@pytest.fixture
def image_panel(installed_store) -> GenerationPreviewer:
    from conftest import TINY_SD

    panel = GenerationPreviewer("image", store=installed_store)
    assert panel.mode.model.value == TINY_SD
    panel.mode.prompt.value = "a lighthouse at dawn"
    panel.mode.steps.value = 3
    panel.mode.seed.value = "5"
    return panel


def test_no_broken_image_before_the_first_picture(image_panel):
    output = image_panel.mode.output
    assert output.value == b"" and output.layout.display == "none"
    image_panel.generate_button.click()
    image_panel.wait(WAIT_S)
    assert output.value and output.layout.display is None


def test_image_mode_lists_image_models_and_their_schedulers(image_panel):
    from conftest import TINY_SD

    assert [repo_id for _, repo_id in image_panel.mode.model.options] == [TINY_SD]
    names = [value for _, value in image_panel.mode.scheduler.options]
    assert names[0] == "" and "EulerAncestralDiscreteScheduler" in names  # "": the model's own


def test_image_mode_shows_live_previews_then_the_image_and_a_gallery_entry(image_panel):
    from PIL import Image

    from creator_kit import image

    previews = []
    image_panel.mode.output.observe(lambda change: previews.append(image_panel.mode.output.format), "value")
    image_panel.generate_button.click()
    image_panel.wait(WAIT_S)

    assert previews.count("jpeg") == 3 and previews[-1] == "png"  # one preview per step, then the final PNG
    (result,) = image_panel.history
    expected = image.generate("a lighthouse at dawn", model=result.manifest.model, steps=3, seed=5)
    shown = Image.open(io.BytesIO(image_panel.mode.output.value))
    assert shown.convert("RGB").tobytes() == expected.image.tobytes()
    (item,) = image_panel.mode.gallery.children
    assert "seed 5 · 3 steps · a lighthouse at…" in item.children[1].value  # the thumbnail's label
    assert "Done: 3 steps in" in image_panel.status.value and "seed 5" in image_panel.status.value


def test_gallery_use_all_restores_every_parameter(image_panel):
    image_panel.mode.negative_prompt.value = "fog"
    image_panel.mode.guidance.value = 4.5
    image_panel.mode.scheduler.value = "EulerAncestralDiscreteScheduler"
    image_panel.generate_button.click()
    image_panel.wait(WAIT_S)
    image_panel.mode.prompt.value, image_panel.mode.guidance.value = "something else", 9.0
    image_panel.mode.scheduler.value, image_panel.mode.seed.value = "", ""

    thumbnail, _label, use_all = image_panel.mode.gallery.children[0].children
    use_all.click()

    mode = image_panel.mode
    assert (mode.prompt.value, mode.negative_prompt.value, mode.guidance.value) == ("a lighthouse at dawn", "fog", 4.5)
    assert (mode.scheduler.value, mode.seed.value, mode.steps.value) == ("EulerAncestralDiscreteScheduler", "5", 3)
    assert (mode.width.value, mode.height.value) == (32, 32)
    assert bytes(thumbnail.value).startswith(b"\x89PNG")


def test_dice_and_reuse_seed(image_panel):
    image_panel.mode.dice.click()
    assert image_panel.mode.seed.value.isdigit() and image_panel.mode.seed.value != "5"
    image_panel.mode.seed.value = ""
    image_panel.generate_button.click()
    image_panel.wait(WAIT_S)
    image_panel.mode.seed.value = ""
    image_panel.mode.reuse_seed.click()
    assert image_panel.mode.seed.value == str(image_panel.history[-1].manifest.seed)


def test_image_stop_and_bad_size_show_in_the_panel(image_panel):
    image_panel.mode.width.value = 30
    image_panel.generate_button.click()
    image_panel.wait(WAIT_S)
    assert "multiple of 8" in image_panel.status.value and not image_panel.history

    image_panel.mode.width.value = 0
    image_panel.mode.steps.value = 200
    image_panel.generate_button.click()
    _wait_for(lambda: "Step" in image_panel.status.value)
    image_panel.stop_button.click()
    image_panel.wait(WAIT_S)
    assert "cancelled after" in image_panel.status.value and not image_panel.history
    assert "ck-error" not in image_panel.status.value  # the user's own Stop: a status, not an error
    with pytest.raises(CancelledError):
        image_panel.finish(0)  # as the engine call itself would
    assert not image_panel.generate_button.disabled


def test_image_copy_code_reproduces_the_image(image_panel):
    image_panel.generate_button.click()
    image_panel.wait(WAIT_S)
    image_panel.code_button.click()
    namespace: dict = {}
    exec(image_panel.code.value, namespace)
    assert namespace["result"].image.tobytes() == image_panel.history[0].image.tobytes()
