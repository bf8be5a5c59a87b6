"""Every result is kept: the panels save what they make with its manifest, and list, open, reproduce and delete it."""

from __future__ import annotations

import io
import threading

import pytest
from conftest import TINY_SD

import creator_kit as ck
from creator_kit import CancelledError, UnwritablePathError, get_settings, manifest, outputs
from creator_kit.core.errors import NotFoundError
from widgets import GenerationPreviewer

WAIT_S = 60


@pytest.fixture
def text_panel(installed_store) -> GenerationPreviewer:
    panel = GenerationPreviewer(store=installed_store)
    panel.mode.prompt.value, panel.mode.seed.value = "Once upon a time", "3"
    panel.mode.params["max_new_tokens"].value = 8
    return panel


@pytest.fixture
def image_panel(installed_store) -> GenerationPreviewer:
    panel = GenerationPreviewer("image", store=installed_store)
    panel.mode.prompt.value, panel.mode.steps.value, panel.mode.seed.value = "a lighthouse", 2, "5"
    return panel


def _generate(panel: GenerationPreviewer):
    panel.generate_button.click()
    return panel.finish(WAIT_S)


def test_text_is_saved_with_its_manifest_right_after_the_run(text_panel):
    result = _generate(text_panel)
    (saved,) = outputs.listing("text")
    assert saved.path.parent == get_settings().outputs_dir and saved.path.suffix == ".txt"
    assert saved.path.read_text(encoding="utf-8") == result.text
    assert manifest.sidecar(saved.path).is_file() and manifest.read(saved.path).seed == 3
    assert f"saved as {saved.path.name}" in text_panel.status.value
    assert [item.path for item in text_panel.outputs.items] == [saved.path]


def test_a_new_panel_lists_past_outputs_and_opens_reproduces_and_deletes_them(text_panel, installed_store):
    first = _generate(text_panel)
    text_panel.mode.seed.value = "4"
    _generate(text_panel)
    later = GenerationPreviewer(store=installed_store)  # as after a kernel restart: nothing in memory
    saved = later.outputs
    assert len(saved.items) == 2 and saved.items[0].manifest.seed == 4  # newest first
    assert later.history == [] and "seed 4" in saved.select.options[0][0]

    later.mode.prompt.value, later.mode.seed.value, later.mode.preset.value = "other", "9", "creative"
    saved.select.value = 1
    saved.open_button.click()
    assert later.mode.output.value == first.text and "settings that made it" in later.status.value
    assert (later.mode.prompt.value, later.mode.seed.value, later.mode.preset.value) == (
        "Once upon a time",
        "3",
        "balanced",
    )
    assert {key: control.value for key, control in later.mode.params.items()} == {
        key: first.manifest.parameters[key] for key in later.mode.params
    }

    saved.reproduce_button.click()
    assert saved.working and "Reproducing" in saved.status.value
    assert saved.finish(WAIT_S).matches
    assert "reproduced exactly" in saved.status.value and not saved.working

    path = saved.items[1].path
    saved.delete_button.click()
    assert path.exists() and saved.delete_button.description == "Confirm delete"
    saved.delete_button.click()
    assert not path.exists() and not manifest.sidecar(path).exists()
    assert [item.manifest.seed for item in saved.items] == [4] and "Deleted" in saved.status.value


def test_images_are_saved_and_come_back_in_a_new_panels_gallery(image_panel, installed_store):
    from PIL import Image

    result = _generate(image_panel)
    (saved,) = outputs.listing("image")
    assert saved.path.suffix == ".png" and result.paths == [saved.path]
    assert manifest.read(saved.path).parameters["prompt"] == "a lighthouse"

    later = GenerationPreviewer("image", store=installed_store)
    assert [item.path for item in later.outputs.items] == [saved.path]
    (restored,) = later.mode.gallery.children
    later.mode.prompt.value, later.mode.seed.value = "something else", ""
    restored.children[2].click()  # "Use all" on an image of an earlier session
    assert (later.mode.prompt.value, later.mode.seed.value, later.mode.steps.value) == ("a lighthouse", "5", 2)
    shown = Image.open(io.BytesIO(later.mode.output.value)).convert("RGB")
    assert shown.tobytes() == result.image.tobytes()


def test_use_all_shows_the_picture_whose_parameters_it_restores(image_panel):
    from PIL import Image

    first = _generate(image_panel)
    image_panel.mode.seed.value = "6"
    _generate(image_panel)
    image_panel.mode.gallery.children[0].children[2].click()
    shown = Image.open(io.BytesIO(image_panel.mode.output.value)).convert("RGB")
    assert shown.tobytes() == first.image.tobytes() and image_panel.mode.seed.value == "5"


def test_listing_skips_files_without_a_manifest_and_delete_stays_in_the_outputs_folder(image_panel, tmp_path):
    _generate(image_panel)
    folder = get_settings().outputs_dir
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    (folder / "picture-keyframes.png").write_bytes(b"\x89PNG not really")
    assert [item.kind for item in outputs.listing()] == ["image"]
    assert outputs.listing("text") == [] and outputs.listing(folder=tmp_path / "nowhere") == []

    with pytest.raises(NotFoundError):
        outputs.delete(folder / "notes.txt")
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(outputs.listing()[0].path.read_bytes())
    with pytest.raises(UnwritablePathError, match="not an output in"):
        outputs.delete(outside)
    assert (folder / "notes.txt").exists() and outside.exists()


def test_reproduce_can_be_cancelled(image_panel):
    _generate(image_panel)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        ck.reproduce(outputs.listing("image")[0].path, cancel=cancel)


def test_the_image_panel_lists_no_text_and_starts_with_an_empty_gallery(image_panel, text_panel):
    _generate(text_panel)
    assert image_panel.mode.model.value == TINY_SD
    later = GenerationPreviewer("image", store=image_panel.mode.store)
    assert later.outputs.items == [] and later.mode.gallery.children == ()


def test_history_and_saved_name_a_run_the_same_way(text_panel):
    text_panel.mode.prompt.value = "Once upon a time in a land far away there lived a fox"
    _generate(text_panel)
    ((history_name, _),) = text_panel.history_list.options
    ((saved_name, _),) = text_panel.outputs.select.options
    assert history_name == saved_name and "seed 3" in history_name
    assert history_name.endswith("“Once upon a time in a land far away…”")  # cut between words


def test_open_puts_a_saved_pictures_settings_in_the_controls(image_panel, installed_store):
    image_panel.mode.negative_prompt.value, image_panel.mode.guidance.value = "fog", 4.5
    first = _generate(image_panel)
    later = GenerationPreviewer("image", store=installed_store)
    later.mode.prompt.value, later.mode.negative_prompt.value, later.mode.seed.value = "other", "", "9"
    later.outputs.select.value = 0
    later.outputs.open_button.click()
    mode = later.mode
    assert (mode.prompt.value, mode.negative_prompt.value, mode.seed.value) == ("a lighthouse", "fog", "5")
    assert (mode.steps.value, mode.guidance.value) == (2, 4.5) and mode.output.layout.display is None
    assert later.mode.output.value == image_panel.mode.output.value and first.paths == [later.shown]


def test_a_deleted_picture_leaves_the_preview_the_gallery_and_history(image_panel, installed_store):
    first = _generate(image_panel)
    image_panel.mode.seed.value = "6"
    second = _generate(image_panel)
    assert len(image_panel.mode.gallery.children) == 2 and image_panel.shown == second.paths[0]
    saved = image_panel.outputs
    saved.select.value = 0  # the newest: the one shown
    saved.delete_button.click()
    saved.delete_button.click()

    assert not second.paths[0].exists()
    assert [item.path for item in image_panel.mode.gallery.children] == first.paths
    assert image_panel.mode.output.value == b"" and image_panel.mode.output.layout.display == "none"
    assert image_panel.history == [first] and len(image_panel.history_list.options) == 1

    later = GenerationPreviewer("image", store=installed_store)  # a gallery restored from the folder: the same
    later.outputs.select.value = 0
    later.outputs.delete_button.click()
    later.outputs.delete_button.click()
    assert later.mode.gallery.children == ()
