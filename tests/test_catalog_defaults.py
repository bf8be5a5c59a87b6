"""Per-catalog defaults: a catalog model runs with its own settings where the user sets none; a value given
always wins; a model outside the catalog keeps the generic defaults; the manifest records what was used."""

from __future__ import annotations

import json

import pytest
from tiny_classes import build_llama_chat, build_sd_turbo, build_wan, install_as
from tiny_models import CORPUS, build_stable_diffusion, build_text_to_video

from creator_kit import image, text, video
from creator_kit.engines.text_params import resolve_params
from creator_kit.library.catalog import catalog_entries, model_defaults

SD_TURBO, SD15 = "stabilityai/sd-turbo", "stable-diffusion-v1-5/stable-diffusion-v1-5"
WAN, ZEROSCOPE, SMOLLM = (
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    "cerspense/zeroscope_v2_576w",
    "HuggingFaceTB/SmolLM2-135M-Instruct",
)
STAND_INS = {  # catalog repo id -> a tiny model of the same class
    SD_TURBO: build_sd_turbo,
    SD15: build_stable_diffusion,
    WAN: lambda folder: build_wan(folder, CORPUS),
    ZEROSCOPE: build_text_to_video,
    SMOLLM: lambda folder: build_llama_chat(folder, CORPUS),
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("stand-ins")
    return {repo_id: build(root / repo_id.replace("/", "--")) for repo_id, build in STAND_INS.items()}


@pytest.fixture
def catalog_store(sources, tmp_path):
    """A fresh store where each catalog repo id above holds its tiny stand-in (and ``local/turbo`` the SD-Turbo
    one, outside the catalog), made the configured store; one torch thread."""
    import torch

    from creator_kit import runtime
    from creator_kit.core.config import configure
    from creator_kit.library.store import ModelStore

    configure(models_dir=tmp_path / "models", outputs_dir=tmp_path / "outputs")
    for repo_id, folder in sources.items():
        install_as(tmp_path / "models", repo_id, folder)
    ModelStore().register_local("turbo", sources[SD_TURBO], task="text-to-image")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield ModelStore()
    torch.set_num_threads(threads)
    runtime.unload_all()


def test_every_catalog_entry_has_valid_defaults_for_its_task():
    for entry in catalog_entries():
        settings = dict(entry.defaults)
        if entry.task == "text-to-image":
            assert set(settings) <= {"steps", "guidance", "width", "height", "scheduler"}, entry.repo_id
            image.check_params(image.ImageParams(prompt="x", **settings))
        elif entry.task == "text-to-video":
            assert {"frames", "fps", "width", "height"} <= set(settings), entry.repo_id
            frames = settings.pop("frames")
            video.check_params(video.VideoParams(idea="x", duration=frames / settings["fps"], **settings))
        else:
            resolve_params(None, **settings)
    assert model_defaults("local/not-curated") == {}


def test_sd_turbo_takes_one_step_without_guidance_at_512(catalog_store):
    result = image.generate("a red fox", model=SD_TURBO, seed=1, previews=False)

    used = result.manifest.parameters
    assert (used["steps"], used["guidance"], used["width"], used["height"]) == (1, 0.0, 512, 512)
    assert result.image.size == (512, 512)
    # the manifest holds the values, so a replay renders the same without reading the catalog
    assert image.call_from(result.manifest)["steps"] == 1


def test_given_values_win_over_the_catalog(catalog_store):
    result = image.generate("a red fox", model=SD_TURBO, steps=2, guidance=1.5, width=64, height=64, seed=1)

    used = result.manifest.parameters
    assert (used["steps"], used["guidance"], used["width"], used["height"]) == (2, 1.5, 64, 64)


def test_a_model_outside_the_catalog_keeps_the_generic_defaults(catalog_store):
    assert image.defaults("local/turbo") == {
        "width": None,
        "height": None,
        "steps": 25,
        "guidance": 7.5,
        "scheduler": None,
    }
    result = image.generate("a red fox", model="local/turbo", steps=None, seed=1, previews=False)
    used = result.manifest.parameters
    assert (used["steps"], used["guidance"], used["width"]) == (25, 7.5, 64)  # 64: the model's native size


def test_sd15_samples_with_the_catalog_scheduler(catalog_store):
    result = image.generate("a red fox", model=SD15, steps=2, width=32, height=32, seed=1, previews=False)

    assert result.manifest.parameters["scheduler"] == "DPMSolverMultistepScheduler"
    assert result.manifest.parameters["guidance"] == 7.5
    own = image.generate("a red fox", model=SD15, steps=2, width=32, height=32, scheduler="DDIMScheduler", seed=1)
    assert own.manifest.parameters["scheduler"] == "DDIMScheduler"


def test_wan_renders_its_81_frames_at_16_fps(catalog_store, tmp_path):
    result = video.generate("a fox", model=WAN, steps=1, width=32, height=32, seed=3, out=tmp_path / "wan.mp4")

    used = result.manifest.parameters
    assert (used["frames"], used["fps"], used["guidance"]) == (81, 16, 5.0)
    assert len(result.frames) == 81
    shorter = video.generate("a fox", model=WAN, steps=1, width=32, height=32, fps=8, duration=1.0, guidance=1.0)
    assert (len(shorter.frames), shorter.manifest.parameters["guidance"]) == (9, 1.0)


def test_zeroscope_frame_count_comes_from_the_catalog_not_the_pipeline(catalog_store, tmp_path):
    result = video.generate("a fox", model=ZEROSCOPE, steps=1, width=32, height=32, seed=3, out=tmp_path / "z.mp4")

    used = result.manifest.parameters
    assert (used["frames"], used["fps"], used["guidance"]) == (24, 8, 9.0)  # TextToVideoSDPipeline's own: 16


def test_a_storyboard_uses_the_image_models_steps_and_guidance(catalog_store, tmp_path):
    assert video.defaults(SD_TURBO) == {"steps": 1, "guidance": 0.0}
    result = video.generate(
        scenes=["a fox", "a hare"], model=SD_TURBO, quality="draft", duration=1.0, seed=2, out=tmp_path / "s.mp4"
    )
    used = result.manifest.parameters
    assert (used["steps"], used["guidance"], used["width"]) == (1, 0.0, 256)  # the size: the draft preset's


def test_a_chat_model_gets_its_longer_answers(catalog_store):
    result = text.generate("Hello", model=SMOLLM, seed=1)
    assert result.manifest.parameters["max_new_tokens"] == 256

    short = text.generate("Hello", model=SMOLLM, max_new_tokens=4, seed=1)
    assert short.manifest.parameters["max_new_tokens"] == 4 and short.new_tokens <= 4


def test_the_panels_fill_their_controls_from_the_catalog(catalog_store):
    from widgets import GenerationPreviewer

    mode = GenerationPreviewer("image", store=catalog_store).mode
    mode.model.value = SD_TURBO
    assert (mode.steps.value, mode.guidance.value, mode.width.value, mode.height.value) == (1, 0.0, 512, 512)
    mode.model.value = SD15
    assert (mode.steps.value, mode.guidance.value, mode.scheduler.value) == (25, 7.5, "DPMSolverMultistepScheduler")
    mode.model.value = "local/turbo"
    assert (mode.steps.value, mode.guidance.value, mode.width.value, mode.scheduler.value) == (25, 7.5, None, "")
    assert mode.request()["steps"] == 25

    words = GenerationPreviewer("text", store=catalog_store).mode
    words.model.value = SMOLLM
    assert words.params["max_new_tokens"].value == words.request()["max_new_tokens"] == 256

    clips = GenerationPreviewer("video", store=catalog_store).mode
    clips.model.value = WAN
    assert (clips.width.value, clips.height.value, clips.fps.value) == (832, 480, 16)
    assert round(clips.duration.value * clips.fps.value) == 81
    clips.model.value = SD_TURBO
    assert (clips.width.value, clips.fps.value) == (None, None)  # a storyboard: the quality's


def test_the_cli_uses_the_catalog_defaults(catalog_store, tmp_path, capsys):
    from creator_kit import cli

    arguments = ["--models-dir", str(catalog_store.models_dir), "generate", "image", "--model", SD_TURBO]
    arguments += ["--prompt", "a red fox", "--width", "64", "--height", "64", "--out", str(tmp_path / "fox.png")]
    assert cli.main([*arguments, "--json"]) == 0
    used = json.loads(capsys.readouterr().out)["manifest"]["parameters"]
    assert (used["steps"], used["guidance"], used["width"]) == (1, 0.0, 64)
