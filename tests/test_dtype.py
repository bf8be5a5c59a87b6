"""Precision by hardware: diffusion models in bfloat16 on CPUs with fast bfloat16 units, text in float32,
an explicit dtype honoured and recorded, and the quality cost of bfloat16 measured against float32."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_GPT2, TINY_SD

from creator_kit import image, reproduce, text
from creator_kit.core.errors import InvalidInputError
from creator_kit.library import devices

FAST_BF16 = devices.cpu_has_fast_bf16()


@pytest.mark.parametrize("fast", [True, False])
def test_cpu_diffusion_runs_in_bfloat16_only_where_the_processor_has_fast_units(monkeypatch, fast):
    monkeypatch.setattr(devices, "cpu_has_fast_bf16", lambda: fast)
    expected = torch.bfloat16 if fast else torch.float32
    assert devices.select_dtype("cpu", "text-to-image") == devices.select_dtype("cpu", "text-to-video") == expected
    assert devices.select_dtype("cpu", "text-generation") == torch.float32  # decoding measured slower in bf16
    assert devices.torch_dtype("float16", "cpu") == torch.float16
    with pytest.raises(InvalidInputError, match="dtype must be one of"):
        devices.torch_dtype("int4", "cpu")


def test_images_record_their_dtype_and_reproduce_in_it(installed_store, tmp_path):
    default = image.generate("a fox", model=TINY_SD, steps=2, seed=3)
    assert default.manifest.parameters["dtype"] == ("bfloat16" if FAST_BF16 else "float32")
    explicit = image.generate("a fox", model=TINY_SD, steps=2, seed=3, dtype="float32")
    assert explicit.manifest.parameters["dtype"] == "float32"
    for result, name in ((default, "default"), (explicit, "explicit")):
        (path,) = result.save(folder=tmp_path, name=name)
        assert reproduce(path).matches


def test_manifests_from_before_the_dtype_was_recorded_replay_in_float32(installed_store):
    record = image.generate("a fox", model=TINY_SD, steps=2, seed=3, dtype="float32").manifest
    del record.parameters["dtype"]
    assert image.call_from(record)["dtype"] == "float32"


def test_text_models_stay_in_float32_on_the_cpu(installed_store):
    assert text.load_model(TINY_GPT2).dtype == "float32"


def latents_per_step(dtype: str) -> list[torch.Tensor]:
    """The tiny SD's latents after each of 6 steps with guidance, seed 0, run in `dtype`."""
    loaded = image.load_model(TINY_SD, dtype=dtype)
    image.use_scheduler(loaded, None)  # the model's own scheduler (another test may have picked one)
    pipeline = loaded.model
    seen: list[torch.Tensor] = []

    def keep(pipe, step, timestep, tensors):
        seen.append(tensors["latents"].float().flatten())
        return tensors

    with torch.inference_mode():
        pipeline(
            "a lighthouse at dawn",
            num_inference_steps=6,
            guidance_scale=7.5,
            generator=torch.Generator("cpu").manual_seed(0),
            callback_on_step_end=keep,
            output_type="latent",
        )
    return seen


def test_bfloat16_sampling_follows_float32_step_by_step(installed_store):
    # The quality guard: the same seed in both precisions gives nearly the same latents at every step.
    similarities = [
        torch.nn.functional.cosine_similarity(a, b, dim=0).item()
        for a, b in zip(latents_per_step("float32"), latents_per_step("bfloat16"), strict=True)
    ]
    assert min(similarities) > 0.99, similarities
