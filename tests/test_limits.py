"""Limits that hold: scene counts, prompt lengths, finite numbers, sizes that fit in memory, files that are there,
the native video model's own size, and an unreadable audio file refused in one line."""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path

import pytest
from conftest import TINY_GPT2, TINY_SD, TINY_T2V

from creator_kit import image, runtime, storyboard, text, video
from creator_kit.core.errors import IntegrityError, InvalidInputError
from creator_kit.core.validate import MAX_PROMPT_CHARS
from creator_kit.engines.text_params import resolve_params
from creator_kit.library import sizing

TOO_LONG = "a" * (MAX_PROMPT_CHARS + 1)
SMALL = {"width": 32, "height": 32, "steps": 1, "density": 0, "fps": 4, "duration": 1.0, "seed": 1}


def test_a_storyboard_holds_at_most_24_scenes_on_every_path(installed_store, tmp_path):
    board = tmp_path / "board.json"
    board.write_text(json.dumps({"idea": "a day", "scenes": [f"scene {i}" for i in range(1000)]}))
    with pytest.raises(InvalidInputError, match="1000 scenes; a storyboard holds at most 24"):
        storyboard.read_file(board)
    out = tmp_path / "x.mp4"
    with pytest.raises(InvalidInputError, match="25 scenes; a video has at most 24"):
        video.generate(model=TINY_SD, scenes=[f"scene {i}" for i in range(25)], out=out, **SMALL)
    with pytest.raises(InvalidInputError, match="n_scenes must be a whole number from 1 to 24"):
        video.generate("a day", model=TINY_SD, n_scenes=1000, out=out, **SMALL)


def test_prompts_longer_than_the_cap_are_refused_everywhere(installed_store, tmp_path):
    cap = f"{MAX_PROMPT_CHARS + 1:,} characters; at most {MAX_PROMPT_CHARS:,}"
    with pytest.raises(InvalidInputError, match=f"The prompt has {cap}"):
        text.generate(TOO_LONG, model=TINY_GPT2, max_new_tokens=1)
    with pytest.raises(InvalidInputError, match=f"The chat prompt has {cap}"):
        text.generate([{"role": "user", "content": TOO_LONG}], model=TINY_GPT2, max_new_tokens=1)
    with pytest.raises(InvalidInputError, match=f"The prompt has {cap}"):
        image.generate(TOO_LONG, model=TINY_SD, steps=1)
    with pytest.raises(InvalidInputError, match=f"The negative prompt has {cap}"):
        image.generate("a fox", model=TINY_SD, steps=1, negative_prompt=TOO_LONG)
    out = tmp_path / "x.mp4"
    for name, arguments in {
        "idea": {"prompt": TOO_LONG},
        "prompt of scene 2": {"scenes": ["a fox", TOO_LONG]},
        "negative prompt": {"negative_prompt": TOO_LONG},
        "caption of scene 1": {"caption_texts": [TOO_LONG], "n_scenes": 1},
    }.items():
        arguments = {"prompt": "a fox", **SMALL, **arguments}
        with pytest.raises(InvalidInputError, match=f"The {name} has {cap}"):
            video.generate(arguments.pop("prompt"), model=TINY_SD, out=out, **arguments)


def test_a_prompt_at_the_cap_is_accepted():
    assert image.check_params(image.ImageParams("a" * MAX_PROMPT_CHARS)).prompt == "a" * MAX_PROMPT_CHARS


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_numbers_must_be_finite(installed_store, tmp_path, bad):
    for name in ("temperature", "top_p", "repetition_penalty"):
        with pytest.raises(InvalidInputError, match=f"{name} must be a number"):
            resolve_params(**{name: bad})
    with pytest.raises(InvalidInputError, match="guidance must be a number"):
        image.check_params(image.ImageParams("a fox", guidance=bad))
    for name, value in {"guidance": bad, "transition": bad, "duration": bad, "scene_seconds": (1.0, bad)}.items():
        params = {**SMALL, name: value, "scenes": ("a", "b")}
        with pytest.raises(InvalidInputError, match=f"{name}(\\[1\\])? must be a number"):
            video.check_params(video.VideoParams(**params))


def test_a_size_that_cannot_fit_in_memory_is_refused_before_sampling(installed_store):
    loaded = image.load_model(TINY_SD)
    start = time.perf_counter()
    with pytest.raises(InvalidInputError) as error:
        image.generate("a fox", model=loaded, width=2048, height=2048, batch=16, steps=1)
    assert time.perf_counter() - start < 0.5
    message = str(error.value)
    assert "2048x2048 (16 images) needs about" in message and "GB of memory for each sampling step" in message
    assert "is free" in message and "the largest size of this shape that fits is" in message
    # The largest size named does fit: rendering it is not refused (only its estimate is checked here).
    side = int(message.split("fits is ")[1].split("x")[0])
    image.check_fits(loaded, side, side, images=16, guidance=7.5)


def test_the_memory_estimate_follows_the_attention_kernel():
    unet = {"block_out_channels": (32, 64), "attention_head_dim": 8, "down_block_types": ("CrossAttnDownBlock2D",)}
    fused = sizing.sampling_step_bytes(unet, (64, 64), latents=2, element_bytes=4, device="cpu")
    unfused = sizing.sampling_step_bytes(unet, (64, 64), latents=2, element_bytes=4, device="mps")
    assert fused == 40 * 2 * 32 * 64 * 64 * 4  # measured on the tiny SD at 128x128: 39 MB
    assert unfused == fused + 2 * 2 * 8 * (64 * 64) ** 2 * 4  # measured with unfused attention: 2.46 GB


def test_the_usual_sizes_of_the_tiny_models_fit(installed_store):
    loaded = image.load_model(TINY_SD)
    for side in (32, 256):  # its own size; the draft video preset
        image.check_fits(loaded, side, side, images=1, guidance=7.5)


@pytest.mark.parametrize(("repo_id", "engine"), [(TINY_SD, image), (TINY_T2V, video)])
def test_a_file_missing_from_the_store_is_an_integrity_error(installed_store, repo_id, engine):
    runtime.unload(repo_id)  # loaded by an earlier test: the loaded-model cache would not read the files
    (Path(installed_store.get(repo_id).path) / "unet" / "config.json").unlink()
    with pytest.raises(IntegrityError, match=r"unet/config\.json") as error:
        engine.load_model(repo_id)
    assert f"creator-kit models download {repo_id}" in str(error.value)
    assert error.value.exit_code == 7


def test_native_video_renders_at_the_models_own_size_and_frame_count(installed_store, tmp_path):
    result = video.generate("a fox running", model=TINY_T2V, out=tmp_path / "n.mp4", quality="draft", seed=1)
    pipeline = video.load_model(TINY_T2V).model
    own = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    assert own == 32
    assert {frame.shape for frame in result.frames} == {(own, own, 3)}
    assert len(result.frames) == 16  # TextToVideoSDPipeline's num_frames default
    parameters = result.manifest.parameters
    assert (parameters["width"], parameters["height"]) == (own, own)  # not the preset's 256x256
    assert (parameters["steps"], parameters["fps"], parameters["duration"]) == (10, 8, 2.0)  # the preset's


def test_native_video_keeps_what_is_given(installed_store, tmp_path):
    result = video.generate("a fox", model=TINY_T2V, out=tmp_path / "n.mp4", width=48, duration=0.5, fps=8, steps=1)
    assert len(result.frames) == 4 and result.frames[0].shape == (32, 48, 3)


def test_an_unreadable_audio_file_is_refused_in_one_line(installed_store, tmp_path, capfd):
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(InvalidInputError) as error:
        video.generate("a fox", model=TINY_SD, audio=str(noise), out=tmp_path / "x.mp4", **SMALL)
    message = str(error.value)
    assert message.startswith(f"Cannot read {noise} as audio") and "\n" not in message
    gc.collect()  # a reader left behind would complain when collected
    assert capfd.readouterr() == ("", "")
