"""Every model class the catalog lists runs through Creator Kit's real engines, on a tiny model of that class.

GPT-Neo, Llama- and Qwen2-shaped chat models (chat template), SD-Turbo (one step, no guidance), SDXL (two text
encoders, size conditioning) and Wan 2.1 (WanPipeline): outputs of the right shape, manifests that reproduce.
"""

from __future__ import annotations

import numpy as np
import pytest
from tiny_classes import build_gpt_neo, build_llama_chat, build_qwen2_chat, build_sd_turbo, build_sdxl, build_wan
from tiny_models import CORPUS

from creator_kit import image, text, video
from creator_kit.core.errors import InvalidInputError
from creator_kit.core.events import Progress

BUILDERS = {
    "gpt-neo": lambda folder: build_gpt_neo(folder, CORPUS),
    "llama-chat": lambda folder: build_llama_chat(folder, CORPUS),
    "qwen2-chat": lambda folder: build_qwen2_chat(folder, CORPUS),
    "sd-turbo": build_sd_turbo,
    "sdxl": build_sdxl,
    "wan": lambda folder: build_wan(folder, CORPUS),
}
TASKS = {"sd-turbo": "text-to-image", "sdxl": "text-to-image", "wan": "text-to-video"}


@pytest.fixture(scope="module")
def class_sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("classes")
    return {name: build(root / name) for name, build in BUILDERS.items()}


@pytest.fixture
def classes(class_sources, tmp_path):
    """A fresh store holding every tiny class model as ``local/<name>``, made the configured one; one torch thread."""
    import torch

    from creator_kit import runtime
    from creator_kit.core.config import configure
    from creator_kit.library.store import ModelStore

    configure(models_dir=tmp_path / "models", outputs_dir=tmp_path / "outputs")
    store = ModelStore()
    for name, folder in class_sources.items():
        store.register_local(name, folder, task=TASKS.get(name, "text-generation"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield store
    torch.set_num_threads(threads)
    runtime.unload_all()


def test_gpt_neo_completes_and_reproduces(classes):
    result = text.generate("The quick brown", model="local/gpt-neo", max_new_tokens=6, do_sample=False)

    assert type(text.load_model("local/gpt-neo").model).__name__ == "GPTNeoForCausalLM"
    assert 1 <= result.new_tokens <= 6 and result.manifest.parameters["chat"] is False
    assert text.replay(result.manifest).text == result.text


@pytest.mark.parametrize(("name", "cls"), [("llama-chat", "LlamaForCausalLM"), ("qwen2-chat", "Qwen2ForCausalLM")])
def test_chat_models_render_their_template(classes, name, cls):
    messages = [{"role": "user", "content": "Write a line about the sea."}]
    result = text.generate(messages, model=f"local/{name}", max_new_tokens=5, do_sample=False)

    loaded = text.load_model(f"local/{name}")
    rendered = loaded.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert type(loaded.model).__name__ == cls
    assert rendered.endswith("<|im_start|>assistant\n")
    assert result.manifest.parameters["chat"] is True
    assert result.prompt_tokens == len(loaded.processor(rendered, add_special_tokens=False)["input_ids"])
    assert text.replay(result.manifest).text == result.text
    # a plain string goes through the template too, unless chat=False says otherwise
    plain = text.generate("Hello", model=f"local/{name}", max_new_tokens=2, chat=False)
    assert plain.manifest.parameters["chat"] is False


def test_sd_turbo_one_step_without_guidance(classes):
    steps = []
    result = image.generate(
        "a red fox", model="local/sd-turbo", steps=1, guidance=0.0, seed=4, on_event=steps.append, previews=False
    )

    assert result.image.size == (64, 64)  # native: UNet sample size 8 x VAE scale 8
    assert result.manifest.parameters["scheduler"] == "EulerDiscreteScheduler"
    assert image.load_model("local/sd-turbo").model.scheduler.config.timestep_spacing == "trailing"
    assert [event.completed for event in steps if isinstance(event, Progress)] == [1]
    again = image.replay(result.manifest)
    assert np.array_equal(np.asarray(again.image), np.asarray(result.image))


def test_sdxl_two_encoders_and_size_conditioning(classes):
    result = image.generate("a lighthouse", model="local/sdxl", steps=2, guidance=5.0, width=96, height=64, seed=2)

    pipeline = image.load_model("local/sdxl").model
    assert type(pipeline).__name__ == "StableDiffusionXLPipeline"
    assert type(pipeline.text_encoder_2).__name__ == "CLIPTextModelWithProjection"
    assert pipeline.unet.config.addition_embed_type == "text_time"
    assert result.image.size == (96, 64)
    again = image.replay(result.manifest)
    assert np.array_equal(np.asarray(again.image), np.asarray(result.image))
    # a negative prompt is encoded by both encoders and changes the picture under guidance
    negative = image.generate(
        "a lighthouse", model="local/sdxl", steps=2, guidance=5.0, width=96, height=64, seed=2, negative_prompt="fog"
    )
    assert not np.array_equal(np.asarray(negative.image), np.asarray(result.image))


def test_wan_frames_follow_its_4k_plus_1_rule(classes, tmp_path):
    events = []
    result = video.generate(
        "a fox in the snow",
        model="local/wan",
        steps=2,
        width=32,
        height=32,
        fps=4,
        duration=2.0,
        seed=5,
        negative_prompt="blurry",
        out=tmp_path / "wan.mp4",
        on_event=events.append,
    )

    assert len(result.frames) == 9  # 8 asked: the nearest 4k + 1
    assert result.frames[0].shape == (32, 32, 3)
    assert result.manifest.parameters["duration"] == 2.25 and result.manifest.parameters["frames"] == 9
    assert result.path.is_file() and result.path.stat().st_size > 0
    sampled = [e for e in events if isinstance(e, Progress) and e.stage == "sample"]
    assert [e.completed for e in sampled][-1] == 2  # both steps reported
    again = video.replay(result.manifest, out=tmp_path / "again.mp4")
    assert again.manifest.parameters["frames_sha256"] == result.manifest.parameters["frames_sha256"]


def test_wan_keeps_its_autoencoder_in_float32(classes):
    pipeline = video.load_model("local/wan", dtype="bfloat16").model

    assert type(pipeline).__name__ == "WanPipeline"
    assert str(pipeline.transformer.dtype) == "torch.bfloat16"
    assert str(pipeline.vae.dtype) == "torch.float32"


def test_wan_refuses_a_size_its_patches_do_not_divide(classes, tmp_path):
    with pytest.raises(InvalidInputError, match="multiple of 16"):
        video.generate("a fox", model="local/wan", steps=1, width=40, height=32, out=tmp_path / "bad.mp4")
    assert not (tmp_path / "bad.mp4").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sd-turbo", "sdxl"])
def test_picture_classes_convert_to_openvino_and_draw_as_their_source(classes, name):
    from creator_kit import convert

    variant = convert.convert(f"local/{name}", to="openvino")
    settings = {"steps": 2, "guidance": 5.0, "width": 96, "height": 64, "seed": 2, "dtype": "float32"}
    drawn, expected = (image.generate("a lighthouse", model=m, **settings) for m in (variant.repo_id, f"local/{name}"))
    levels = np.abs(np.asarray(drawn.image, dtype=np.float32) - np.asarray(expected.image, dtype=np.float32))
    assert drawn.image.size == (96, 64) and drawn.manifest.parameters["backend"] == "openvino"
    assert levels.mean() < 0.5 and levels.max() <= 8  # float32 measured: within one level of 255
