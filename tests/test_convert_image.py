"""OpenVINO variants of text-to-image pipelines (creator_kit.convert, engines.variant_image), on the starter image.

The pixel thresholds are a few times what float32 measured here (mean 0.03, largest 1 of 255 levels between
the variant and its source at 64x64, 3 steps), so a broken graph or a wrong input order fails them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import configured_copy
from test_cli import assert_one_line_error, run_cli

from creator_kit import convert, image
from creator_kit.convert.variant import STAGES
from creator_kit.core.errors import WrongTaskError
from creator_kit.core.events import Progress
from creator_kit.library import sizing, variants
from creator_kit.library.catalog import TEXT_TO_VIDEO
from creator_kit.library.store import ModelStore
from creator_kit.starters.build import build_starters

STARTER = "local/starter-image"
VARIANT = "local/starter-image-openvino"
MEAN_LEVELS, LARGEST_LEVELS = 0.5, 8  # float32 variant against its source, in 0-255 levels
BFLOAT16_MEAN_LEVELS = 8


@pytest.fixture(scope="module")
def starter_dir(tmp_path_factory) -> Path:
    models = tmp_path_factory.mktemp("convert-image-models")
    build_starters(ModelStore(models, offline=True), tasks=["text-to-image"])
    return models


@pytest.fixture
def starter_store(starter_dir, tmp_path):
    """A copy of the starter store for this test, made the configured one (its variants stay its own)."""
    with configured_copy(starter_dir, tmp_path) as store:
        yield store


def levels(a, b) -> np.ndarray:
    return np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32))


@pytest.mark.slow
def test_openvino_pipeline_variant_draws_what_its_source_draws(starter_store):
    stages = []
    source = starter_store.get(STARTER)
    variant = convert.convert(STARTER, to="openvino", on_event=stages.append)
    assert variant.repo_id == VARIANT and variant.task == "text-to-image"
    assert [e.stage for e in stages if isinstance(e, Progress)] == list(STAGES["text-to-image"])
    conversion = variant.metadata["conversion"]
    assert conversion["source"] == STARTER and conversion["revision"] == source.commit
    assert conversion["pipeline"] == "StableDiffusionPipeline" and conversion["tools"]["openvino"]
    folder = Path(variant.path)
    for part in ("unet", "vae"):  # graphs in place of the torch weights; the text encoder stays torch's
        assert (folder / part / "model.xml").is_file() and (folder / part / "model.weights").is_file()
        assert not list((folder / part).glob("*.safetensors"))
    assert list((folder / "text_encoder").glob("*.safetensors"))
    assert sizing.count_parameters(folder) == sizing.count_parameters(Path(source.path))  # sized as its source

    settings = {"steps": 3, "seed": 1, "dtype": "float32"}
    expected = image.generate("a red fox", model=STARTER, **settings)
    drawn = image.generate("a red fox", model=VARIANT, **settings)
    assert drawn.image.size == expected.image.size == (64, 64)
    difference = levels(drawn.image, expected.image)
    assert difference.mean() < MEAN_LEVELS and difference.max() <= LARGEST_LEVELS
    assert drawn.manifest.model == VARIANT and drawn.manifest.parameters["backend"] == "openvino"
    assert expected.manifest.parameters["backend"] == "torch"
    assert image.replay(drawn.manifest).image.tobytes() == drawn.image.tobytes()
    graphs = sum((folder / part / "model.weights").stat().st_size for part in ("unet", "vae"))
    assert image.load_model(VARIANT, dtype="float32").memory_bytes > 2 * graphs  # the budget counts the graphs

    # Another shape compiles again: another size, no guidance (batch 1 instead of 2), a batch of two.
    other = {"steps": 2, "seed": 4, "width": 48, "height": 64, "guidance": 1.0, "batch": 2, "dtype": "float32"}
    wide, reference = (image.generate("a lighthouse", model=m, **other) for m in (VARIANT, STARTER))
    assert [im.size for im in wide.images] == [(48, 64), (48, 64)]
    assert levels(wide.images[1], reference.images[1]).mean() < MEAN_LEVELS
    # The default dtype (bfloat16 on CPUs with it, for torch and OpenVINO alike: they round apart, measured mean
    # 0.95 levels); a wrong graph is tens of levels off.
    default = {"steps": 3, "seed": 1}
    drawn, expected = (image.generate("a red fox", model=m, **default) for m in (VARIANT, STARTER))
    assert drawn.manifest.parameters["dtype"] == expected.manifest.parameters["dtype"]
    assert levels(drawn.image, expected.image).mean() < BFLOAT16_MEAN_LEVELS


@pytest.mark.slow  # the conversion and three runs of the command
def test_cli_converts_a_picture_model_and_generates_with_the_backend(starter_store, tmp_path):
    models, out = str(starter_store.models_dir), tmp_path / "fox.png"
    draw = ("--models-dir", models, "generate", "image", "--model", STARTER, "--prompt", "a fox", "--steps", "2")
    missing = run_cli(*draw, "--backend", "openvino", "--out", str(out))
    assert_one_line_error(missing, 3, f"models convert {STARTER} --to openvino`")

    made = run_cli("--models-dir", models, "models", "convert", STARTER, "--to", "openvino", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["repo_id"] == VARIANT

    ran = run_cli(*draw, "--backend", "openvino", "--out", str(out), "--json")
    assert ran.returncode == 0, ran.stderr
    record = json.loads(ran.stdout)["manifest"]
    assert record["model"] == VARIANT and record["parameters"]["backend"] == "openvino"
    from PIL import Image

    assert Image.open(out).size == (64, 64)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--to", "onnx"), "convert to openvino only"),
        (("--to", "openvino", "--int8"), "without --int8"),
    ],
)
def test_picture_models_refuse_what_is_not_offered_in_one_line(starter_store, arguments, message):
    refused = run_cli("--models-dir", str(starter_store.models_dir), "models", "convert", STARTER, *arguments)
    assert_one_line_error(refused, 2, message)
    assert not starter_store.is_installed(VARIANT)


def test_video_models_do_not_convert():
    with pytest.raises(WrongTaskError, match="Text-to-video models do not convert"):
        variants.check_offered("openvino", False, TEXT_TO_VIDEO)


@pytest.mark.slow
def test_the_image_panel_lists_the_variant_and_draws_with_it(starter_store):
    from widgets import GenerationPreviewer

    convert.convert(STARTER, to="openvino")
    panel = GenerationPreviewer("image", store=starter_store)
    assert VARIANT in [repo_id for _, repo_id in panel.mode.model.options]
    panel.mode.model.value = VARIANT
    assert "DDIMScheduler" in [value for _, value in panel.mode.scheduler.options]  # the source's schedulers
    panel.mode.prompt.value, panel.mode.steps.value, panel.mode.seed.value = "a lighthouse", 2, "5"
    panel.generate_button.click()
    result = panel.finish(120)
    assert result.manifest.model == VARIANT and result.manifest.parameters["backend"] == "openvino"
    assert result.image.size == (64, 64) and len(panel.mode.gallery.children) == 1
