"""Text-to-image on the tiny Stable Diffusion pipeline, downloaded through the store from the test hub."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import TINY_GPT2, TINY_SD
from PIL import Image

from creator_kit import image
from creator_kit import manifest as manifests
from creator_kit.core.errors import CancelledError, InvalidInputError, ModelNotInstalledError, WrongTaskError
from creator_kit.core.events import Done, Preview, Progress
from creator_kit.engines.sheets import MIN_CELL_PX

NATIVE = 32  # the tiny pipeline: UNet sample size 16 x VAE scale factor 2


def render(**params):
    params = {"steps": 3, "seed": 11, **params}
    return image.generate(params.pop("prompt", "a lighthouse at dawn"), model=TINY_SD, **params)


def test_generates_rgb_images_of_the_requested_size(installed_store):
    result = render(width=48, height=40, batch=2)
    assert [(im.size, im.mode) for im in result.images] == [((48, 40), "RGB")] * 2
    assert np.asarray(result.image).std() > 1, "a real decode, not a flat image"
    assert result.manifest.kind == "image" and result.manifest.model == TINY_SD
    assert result.manifest.revision == installed_store.get(TINY_SD).commit
    assert result.manifest.parameters["width"] == 48 and result.manifest.seed == 11


def test_native_size_is_the_default(installed_store):
    assert render().image.size == (NATIVE, NATIVE)


def test_previews_arrive_once_per_step_at_the_output_size(installed_store):
    events = []
    result = render(steps=4, width=40, height=32, on_event=events.append)
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.step for p in previews] == [1, 2, 3, 4]
    assert all(isinstance(p.value, Image.Image) and p.value.size == (40, 32) for p in previews)
    progress = [(e.completed, e.total, e.unit) for e in events if isinstance(e, Progress)]
    assert progress == [(1, 4, "step"), (2, 4, "step"), (3, 4, "step"), (4, 4, "step")]
    assert isinstance(events[-1], Done) and events[-1].result is result


def test_previews_can_be_switched_off(installed_store):
    events = []
    render(previews=False, on_event=events.append)
    assert not [e for e in events if isinstance(e, Preview)]


def test_same_seed_same_pixels_other_seed_other_pixels(installed_store):
    first, again, other = render(), render(), render(seed=12)
    assert first.image.tobytes() == again.image.tobytes()
    assert first.image.tobytes() != other.image.tobytes()


def test_batch_image_i_is_seed_plus_i(installed_store):
    batch = render(batch=2)
    alone = render(seed=12)
    difference = np.abs(np.asarray(batch.images[1], dtype=int) - np.asarray(alone.image, dtype=int))
    assert difference.max() <= 2, "the same picture, up to float rounding between batched and single runs"
    assert batch.image_manifest(1).seed == 12 and batch.image_manifest(1).parameters["batch_index"] == 1


def test_scheduler_by_name_is_used_and_recorded(installed_store):
    assert "EulerAncestralDiscreteScheduler" in image.schedulers(TINY_SD)
    ancestral = render(scheduler="EulerAncestralDiscreteScheduler")
    assert ancestral.manifest.parameters["scheduler"] == "EulerAncestralDiscreteScheduler"
    default = render()
    assert default.manifest.parameters["scheduler"] == "DDIMScheduler"
    assert ancestral.image.tobytes() != default.image.tobytes()


def test_cancel_stops_between_steps(installed_store):
    cancel = threading.Event()
    steps_seen = []

    def on_event(event):
        if isinstance(event, Progress):
            steps_seen.append(event.completed)
            cancel.set()

    with pytest.raises(CancelledError, match="after 2 of 5 steps"):
        render(steps=5, cancel=cancel, on_event=on_event)
    assert steps_seen == [1]
    assert render().image.size == (NATIVE, NATIVE), "the pipeline still works after a cancel"


def test_png_embeds_the_manifest_and_an_a1111_parameters_chunk(installed_store, tmp_path):
    result = render(negative_prompt="blurry", guidance=6.0)
    [path] = result.save(folder=tmp_path, name="lighthouse")
    assert path == tmp_path / "lighthouse.png"
    with Image.open(path) as png:
        chunks = dict(png.text)
        assert png.size == result.image.size
    assert manifests.read(path).parameters == result.manifest.parameters
    assert chunks["parameters"].splitlines() == [
        "a lighthouse at dawn",
        "Negative prompt: blurry",
        f"Steps: 3, Sampler: DDIMScheduler, CFG scale: 6.0, Seed: 11, Size: {NATIVE}x{NATIVE}, "
        f"Model: {TINY_SD}, Model hash: {result.manifest.revision[:10]}",
    ]


def test_replaying_a_png_reproduces_its_pixels_even_from_a_batch(installed_store, tmp_path):
    paths = render(batch=2).save(folder=tmp_path)
    assert manifests.read(paths[1]).seed == 12
    for path in paths:
        with Image.open(path) as png:
            assert image.replay(path).image.tobytes() == png.convert("RGB").tobytes()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"width": 30}, "width must be a multiple of 8"),
        ({"height": 4096}, "height must be a multiple of 8"),
        ({"steps": 0}, "steps must be"),
        ({"guidance": -1}, "guidance must be"),
        ({"batch": 0}, "batch must be"),
        ({"seed": -5}, "seed must be"),
        ({"scheduler": "NoSuchScheduler"}, "Choose one of"),
        ({"prompt": "  "}, "prompt must be"),
    ],
)
def test_bad_parameters_say_what_is_allowed(installed_store, params, message):
    with pytest.raises(InvalidInputError, match=message):
        render(**params)


def test_unknown_parameter_is_refused(installed_store):
    with pytest.raises(InvalidInputError, match="sampler"):
        render(sampler="euler")


def test_a_text_model_is_the_wrong_task(installed_store, hub):
    installed_store.download(TINY_GPT2)
    with pytest.raises(WrongTaskError, match="text-generation"):
        image.generate("a fox", model=TINY_GPT2)


def test_missing_model_says_how_to_get_it(installed_store):
    with pytest.raises(ModelNotInstalledError, match="models download segmind/tiny-sd"):
        image.generate("a fox", model="segmind/tiny-sd")


def test_sweep_renders_every_combination_into_a_labelled_sheet(installed_store, tmp_path):
    events = []
    result = image.sweep(
        "a fox", model=TINY_SD, axes={"seed": [1, 2], "guidance": [3.0, 6.0, 9.0]}, steps=2, on_event=events.append
    )
    assert [values for values, _ in result.cells] == [
        {"seed": s, "guidance": g} for s in (1, 2) for g in (3.0, 6.0, 9.0)
    ]
    label_h, cell_w = result.sheet.height // 2 - NATIVE, MIN_CELL_PX  # a small picture sits centred in its cell
    assert result.sheet.size == (3 * cell_w, 2 * (NATIVE + label_h)) and label_h > 0
    # cell (row 1, column 2) holds the seed=2, guidance=9 image, below its label strip
    left = 2 * cell_w + (cell_w - NATIVE) // 2
    cell = result.sheet.crop((left, NATIVE + 2 * label_h, left + NATIVE, 2 * (NATIVE + label_h)))
    assert cell.tobytes() == result.cells[5][1].image.tobytes()
    label_strip = np.asarray(result.sheet.crop((0, 0, cell_w, label_h)))
    assert (label_strip < 128).any(), "the label is drawn"
    assert [e.completed for e in events if isinstance(e, Progress) and e.operation == "sweep"] == [1, 2, 3, 4, 5, 6]
    path = result.save(folder=tmp_path, name="sheet")
    assert manifests.read(path).parameters["axes"] == {"seed": [1, 2], "guidance": [3.0, 6.0, 9.0]}


@pytest.mark.parametrize("axes", [{}, {"seed": []}, {"batch": [1, 2]}, {"colour": ["red"]}])
def test_sweep_rejects_bad_axes(installed_store, axes):
    with pytest.raises(InvalidInputError):
        image.sweep("a fox", model=TINY_SD, axes=axes)
