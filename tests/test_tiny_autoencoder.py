"""Tiny autoencoders (TAESD's class, AutoencoderTiny) as companion models: found by fit, decoded previews, draft
decodes recorded in the manifest and reproduced, listed apart from generators, one clear error when missing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TINY_GPT2, TINY_SD, TINY_T2V
from olah_hub import publish
from PIL import Image
from test_cli import run_cli

from creator_kit import companions, compare, configure, image, load_installed, video
from creator_kit.cli import main as cli_main
from creator_kit.core.errors import InvalidInputError, ModelNotInstalledError, WrongTaskError
from creator_kit.core.events import Preview
from creator_kit.engines.manifest import read
from creator_kit.engines.tasks import reproduce
from creator_kit.library.catalog import AUTOENCODER, catalog_entries, catalog_entry
from creator_kit.library.store import ModelStore
from creator_kit.starters.build import build_starters
from creator_kit.starters.tiny import build_tiny_autoencoder

FITS = "local/tiny-taesd"  # latent family sd, upsamples 2x like the tiny pipelines' VAE
TOO_DEEP = "local/tiny-taesd-x8"  # family sd, upsamples 8x (TAESD's own shape): does not fit them
OTHER_FAMILY = "local/tiny-taesdxl"  # upsamples 2x, but decodes SDXL latents


def _register(store: ModelStore, name: str, folder, *, levels: int, family: str) -> str:
    build_tiny_autoencoder(folder, levels=levels, channels=8)
    return store.register_local(name, folder, task=AUTOENCODER, metadata={"latent_family": family}).repo_id


@pytest.fixture
def misfits(installed_store, tmp_path) -> ModelStore:
    """The installed tiny models, with two tiny autoencoders that do not fit them."""
    _register(installed_store, TOO_DEEP, tmp_path / "deep", levels=4, family="sd")
    _register(installed_store, OTHER_FAMILY, tmp_path / "xl", levels=2, family="sdxl")
    return installed_store


@pytest.fixture
def companion_store(misfits, tmp_path) -> ModelStore:
    """The misfits and one tiny autoencoder that fits the tiny pipelines."""
    _register(misfits, FITS, tmp_path / "fits", levels=2, family="sd")
    return misfits


def _previews(**params) -> tuple[image.ImageResult, list[Image.Image]]:
    events: list = []
    result = image.generate("a red boat", model=TINY_SD, steps=2, seed=3, on_event=events.append, **params)
    return result, [event.value for event in events if isinstance(event, Preview)]


def test_the_catalog_lists_companions_apart_from_the_generators():
    companion_ids = {entry.repo_id: entry.latent_family for entry in catalog_entries(AUTOENCODER)}
    assert companion_ids == {"madebyollin/taesd": "sd", "madebyollin/taesdxl": "sdxl"}
    assert AUTOENCODER not in {entry.task for entry in catalog_entries()}  # not among the generators
    assert catalog_entry("madebyollin/taesd").task == AUTOENCODER

    listed = run_cli("models", "catalog", "--task", AUTOENCODER, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [e["repo_id"] for e in json.loads(listed.stdout)] == ["madebyollin/taesd", "madebyollin/taesdxl"]
    everything = json.loads(run_cli("models", "catalog", "--json").stdout)
    assert not {e["repo_id"] for e in everything} & set(companion_ids)


def test_an_installed_companion_is_no_generator_in_pickers_or_comparisons(companion_store):
    assert FITS not in [m.repo_id for m in companion_store.installed(task=image.TASK)]
    assert FITS in [m.repo_id for m in companion_store.installed(task=AUTOENCODER)]
    with pytest.raises(WrongTaskError, match="one task"):
        compare.check("a boat", [FITS, TINY_SD], companion_store)
    with pytest.raises(WrongTaskError, match="autoencoder"):
        image.generate("a boat", model=FITS, steps=1)
    loaded = load_installed(FITS)  # the model browser's Load
    assert type(loaded.model).__name__ == "AutoencoderTiny" and loaded.task == AUTOENCODER


def test_only_a_companion_that_fits_the_pipeline_is_found(companion_store):
    pipeline = image.load_model(TINY_SD).model
    by_id = {c.repo_id: c for c in companions.installed()}
    assert set(by_id) == {FITS, TOO_DEEP, OTHER_FAMILY}
    assert companions.pipeline_family(pipeline) == "sd"
    assert companions.misfit(by_id[FITS], pipeline) is None
    assert "upsamples latents 8x" in companions.misfit(by_id[TOO_DEEP], pipeline)
    assert "decodes sdxl latents" in companions.misfit(by_id[OTHER_FAMILY], pipeline)
    assert companions.find(pipeline) == by_id[FITS]
    native = video.load_model(TINY_T2V).model  # a ModelScope-style video pipeline: Stable Diffusion's latents too
    assert companions.find(native) == by_id[FITS]


def test_previews_are_the_latents_decoded_by_the_companion_and_the_projection_without_one(misfits):
    result, projected = _previews()
    assert [p.size for p in projected] == [(32, 32)] * 2 and result.manifest.parameters["decoder"] == "full"

    _register(misfits, FITS, misfits.models_dir.parent / "fits", levels=2, family="sd")
    again, decoded = _previews()
    assert [(p.mode, p.size) for p in decoded] == [("RGB", (32, 32))] * 2
    assert all(np.asarray(a).tobytes() != np.asarray(b).tobytes() for a, b in zip(decoded, projected, strict=True))
    assert again.image.tobytes() == result.image.tobytes()  # previews change nothing in the picture itself

    # The last step's latents are the final ones: decoded by the companion, they are the tiny decoder's picture.
    drafted, _ = _previews(decoder="tiny")
    assert np.abs(np.asarray(decoded[-1], int) - np.asarray(drafted.image, int)).max() <= 1


def test_a_draft_decode_is_saved_with_its_decoder_and_reproduces(companion_store, tmp_path):
    full = image.generate("a red boat", model=TINY_SD, steps=2, seed=5, width=48, height=40)
    draft = image.generate("a red boat", model=TINY_SD, steps=2, seed=5, width=48, height=40, decoder="tiny")
    assert draft.image.tobytes() != full.image.tobytes()  # another decoder, another picture of the same latents

    path = draft.save(out=tmp_path / "draft.png")[0]
    with Image.open(path) as png:
        assert (png.format, png.size) == ("PNG", (48, 40))
    parameters = read(path).parameters
    commit = companion_store.get(FITS).commit
    assert (parameters["decoder"], parameters["decoder_model"], parameters["decoder_revision"]) == (
        "tiny",
        FITS,
        commit,
    )
    assert image.call_from(read(path))["decoder"] == FITS
    assert reproduce(path).matches

    forced = image.generate("a red boat", model=TINY_SD, steps=2, seed=5, width=48, height=40, decoder="full")
    assert forced.image.tobytes() == full.image.tobytes()
    assert (forced.manifest.parameters["decoder"], forced.manifest.parameters["decoder_model"]) == ("full", None)
    named = image.generate("a red boat", model=TINY_SD, steps=2, seed=5, width=48, height=40, decoder=FITS)
    assert named.image.tobytes() == draft.image.tobytes()


def test_a_draft_video_decodes_every_picture_with_the_companion(companion_store, tmp_path):
    tiny = {"duration": 1.0, "fps": 2, "width": 32, "height": 32, "steps": 1, "seed": 0, "density": 1}
    scenes = ("a fox", "a river")
    draft = video.generate(model=TINY_SD, scenes=scenes, quality="draft", out=tmp_path / "draft.mp4", **tiny)
    assert (draft.manifest.parameters["decoder"], draft.manifest.parameters["decoder_model"]) == ("tiny", FITS)
    assert draft.frames[0].shape == (32, 32, 3)
    standard = video.generate(model=TINY_SD, scenes=scenes, out=tmp_path / "standard.mp4", **tiny)
    assert standard.manifest.parameters["decoder"] == "full"
    assert draft.manifest.parameters["frames_sha256"] != standard.manifest.parameters["frames_sha256"]
    assert video.call_from(draft.manifest)["decoder"] == FITS
    assert reproduce(draft.path).matches

    native = video.generate("a fox running", model=TINY_T2V, out=tmp_path / "native.mp4", decoder="tiny", **tiny)
    assert (native.manifest.parameters["decoder"], len(native.frames)) == ("tiny", 2)


def test_forcing_the_tiny_decoder_without_one_that_fits_is_one_clear_error(misfits, capsys):
    with pytest.raises(ModelNotInstalledError, match="models download madebyollin/taesd"):
        image.generate("a boat", model=TINY_SD, steps=1, decoder="tiny")
    with pytest.raises(InvalidInputError, match="does not fit this model: it upsamples latents 8x"):
        image.generate("a boat", model=TINY_SD, steps=1, decoder=TOO_DEEP)
    with pytest.raises(WrongTaskError, match="not a tiny autoencoder"):
        image.generate("a boat", model=TINY_SD, steps=1, decoder=TINY_GPT2)
    for wrong in ("fast", 3):
        with pytest.raises(InvalidInputError, match="decoder must be auto, full, tiny"):
            image.generate("a boat", model=TINY_SD, steps=1, decoder=wrong)
    with pytest.raises(InvalidInputError, match="decoder must be"):
        video.generate("a boat", model=TINY_SD, decoder="fast")

    out = misfits.models_dir.parent / "boat.png"
    arguments = ["--models-dir", str(misfits.models_dir), "generate", "image", "--model", TINY_SD, "--prompt", "a boat"]
    assert cli_main([*arguments, "--steps", "1", "--decoder", "tiny", "--out", str(out)]) == 3
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("creator-kit: error: No installed tiny autoencoder fits")
    assert "madebyollin/taesd" in error[0] and not out.exists()


def test_a_catalogued_companion_downloads_through_the_store(hub, store, tmp_path):
    source = build_tiny_autoencoder(tmp_path / "taesd", levels=2, channels=8)
    (source / "diffusion_pytorch_model.bin").write_bytes(b"pickle copy, never fetched")  # as the real repo has
    publish(hub.server.mirrors, "madebyollin/taesd", source)
    installed = store.download("madebyollin/taesd")
    assert installed.task == AUTOENCODER
    assert sorted(p.name for p in (tmp_path / "models").rglob("snapshots/*/*")) == [
        "config.json",
        "diffusion_pytorch_model.safetensors",
    ]
    assert companions.installed(store) == [
        companions.Companion("madebyollin/taesd", installed.commit, "sd", latent_channels=4, scale=2)
    ]


def test_the_starters_come_with_a_tiny_autoencoder_that_fits_them(tmp_path):
    configure(models_dir=tmp_path / "models", outputs_dir=tmp_path / "outputs", offline=True)
    built = build_starters(tasks=["text-to-image"])
    assert [(m.repo_id, m.task) for m in built] == [
        ("local/starter-image", "text-to-image"),
        ("local/starter-tiny-autoencoder", AUTOENCODER),
    ]
    events: list = []
    result = image.generate("a lighthouse", model="local/starter-image", steps=1, seed=0, on_event=events.append)
    assert companions.find(image.load_model("local/starter-image").model).repo_id == "local/starter-tiny-autoencoder"
    assert [e.value.size for e in events if isinstance(e, Preview)] == [result.image.size] == [(64, 64)]
    draft = image.generate("a lighthouse", model="local/starter-image", steps=1, seed=0, decoder="tiny")
    assert draft.manifest.parameters["decoder_model"] == "local/starter-tiny-autoencoder"


def test_a_preview_of_a_large_picture_is_decoded_small_and_resized():
    import torch
    from diffusers import AutoencoderTiny

    decoder = AutoencoderTiny(
        encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4, num_encoder_blocks=(1,) * 4
    ).eval()
    decoded_sizes = []
    decoder.decoder.register_forward_hook(lambda module, args, out: decoded_sizes.append(tuple(out.shape[-2:])))
    picture = companions.preview(decoder, torch.randn(4, 64, 96), (768, 512))  # a 768x512 picture's latents
    assert (picture.mode, picture.size) == ("RGB", (768, 512))
    assert decoded_sizes == [(168, 256)]  # at most PREVIEW_SIDE on the long side


def test_the_image_panel_shows_the_decoded_previews(companion_store):
    import threading

    from widgets.image_mode import ImageMode
    from widgets.parts import encode

    mode = ImageMode(companion_store)
    request = {"model": TINY_SD, "prompt": "a red boat", "steps": 2, "seed": 3}
    mode.run(request, threading.Event(), lambda message, fraction=None: None)
    _, decoded = _previews()
    assert (mode.output.format, mode.output.value) == ("jpeg", encode(decoded[-1], "JPEG"))  # the last step's


def test_the_image_panels_decode_control_drafts_with_the_companion_and_use_all_restores_it(companion_store):
    import threading

    from widgets.image_mode import ImageMode

    mode = ImageMode(companion_store)
    mode.model.value, mode.prompt.value, mode.steps.value, mode.seed.value = TINY_SD, "a red boat", 2, "3"
    assert mode.decoder.value == "full"  # the model's own VAE unless the user picks a draft
    mode.decoder.value = "tiny"
    request = mode.request()
    assert request["decoder"] == "tiny"
    request.pop("model")
    draft = mode.run({"model": TINY_SD, **request}, threading.Event(), lambda message, fraction=None: None)
    expected = image.generate("a red boat", model=TINY_SD, steps=2, seed=3, decoder="tiny")
    assert draft.manifest.parameters["decoder_model"] == FITS
    assert draft.image.tobytes() == expected.image.tobytes()

    mode.decoder.value = "full"
    mode.use_all(draft.manifest, draft.image)
    assert mode.decoder.value == "tiny"
