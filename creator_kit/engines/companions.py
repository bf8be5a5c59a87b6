"""Companion models: tiny autoencoders (TAESD, diffusers' AutoencoderTiny) that decode a diffusion model's latents
in a fraction of its VAE's time.

    companions.find(loaded.model)                                # the installed one that fits, or None
    companion, decoder = companions.decoder_for("tiny", loaded)  # it, loaded in the pipeline's dtype
    with companions.decoding(loaded.model, decoder):             # the pipeline decodes its output with it
        loaded.model(...)

A companion fits a pipeline when its latent family (the catalog's `latent_family`, or its record's metadata, as
for the starter) is the pipeline's, read from the scaling factor of the pipeline's VAE (FAMILIES); when it takes as
many latent channels as that VAE makes; and when its decoder upsamples by the pipeline's VAE scale factor. Live
previews use a fitting companion when one is installed (`image.previewer`; else the latent projection); the
`decoder` setting of an image or video chooses what decodes the result: "full" the model's own VAE, "tiny" the
fitting companion (an error when none is installed), "auto" the companion when one fits, else the VAE, or a
companion's repo id.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creator_kit.core import files, validate
from creator_kit.core.errors import InvalidInputError, ModelNotInstalledError, WrongTaskError
from creator_kit.core.events import EventCallback
from creator_kit.core.quiet import quiet
from creator_kit.core.words import with_article
from creator_kit.engines import runtime
from creator_kit.library.catalog import AUTOENCODER, catalog_entries, catalog_entry
from creator_kit.library.devices import DTYPES
from creator_kit.library.store import ModelStore

if TYPE_CHECKING:
    import torch
    from PIL import Image

DECODERS = ("auto", "full", "tiny")
#: The scaling factor of a diffusion model's VAE -> the latent space its models work in.
FAMILIES = {0.18215: "sd", 0.13025: "sdxl"}
#: Previews decode at most this many pixels on their long side, then are resized to the output size.
PREVIEW_SIDE = 256


@dataclass(frozen=True)
class Companion:
    """An installed tiny autoencoder: its latent family (None: not known), latent channels and upsampling."""

    repo_id: str
    commit: str
    family: str | None
    latent_channels: int
    scale: int


def check_decoder(decoder: Any) -> str:
    """`decoder` if it is one of DECODERS or a model id, else InvalidInputError saying what is allowed."""
    if not isinstance(decoder, str) or (decoder not in DECODERS and "/" not in decoder):
        raise InvalidInputError(
            f"decoder must be {', '.join(DECODERS)} or the id of an installed tiny autoencoder, not {decoder!r}."
        )
    return decoder if decoder in DECODERS else validate.repo_id(decoder)


def pipeline_family(pipeline: Any) -> str | None:
    """The latent family of `pipeline` from its VAE's scaling factor (None: not one FAMILIES knows)."""
    vae = getattr(pipeline, "vae", None)
    factor = vae.config.get("scaling_factor") if vae is not None else None
    return FAMILIES.get(round(factor, 5)) if isinstance(factor, float) else None


def describe(installed: Any) -> Companion | None:
    """The Companion in an installed model (a cache.InstalledModel), or None when it holds no AutoencoderTiny."""
    config = files.read_json(Path(installed.path) / "config.json")
    if config.get("_class_name") != "AutoencoderTiny":
        return None
    entry = catalog_entry(installed.repo_id)
    family = installed.metadata.get("latent_family") or (entry.latent_family if entry else "") or None
    return Companion(installed.repo_id, installed.commit, family, config.get("latent_channels", 4), upsampling(config))


def upsampling(config: Mapping[str, Any]) -> int:
    """How many times an AutoencoderTiny with `config` upsamples latents (diffusers' defaults: TAESD's 8)."""
    levels = len(config.get("decoder_block_out_channels", (64,) * 4))
    return config.get("upsampling_scaling_factor", 2) ** (levels - 1)


def installed(store: ModelStore | None = None) -> list[Companion]:
    """The complete tiny autoencoders in `store`: downloaded ones first (in catalog order), then the others."""
    order = {entry.repo_id: index for index, entry in enumerate(catalog_entries(AUTOENCODER))}
    models = [m for m in (store or ModelStore()).installed(task=AUTOENCODER) if m.status != "incomplete"]
    models.sort(key=lambda m: (m.status != "downloaded", order.get(m.repo_id, len(order)), m.repo_id))
    return [companion for model in models if (companion := describe(model)) is not None]


def misfit(companion: Companion, pipeline: Any) -> str | None:
    """Why `companion` cannot decode the latents of `pipeline`, or None when it can."""
    vae = getattr(pipeline, "vae", None)
    channels = vae.config.get("latent_channels") if vae is not None else None
    family = pipeline_family(pipeline)
    if companion.family is not None and companion.family != family:
        return f"it decodes {companion.family} latents and {type(pipeline).__name__} makes {family or 'other'} ones"
    if companion.latent_channels != channels:
        return f"it takes {companion.latent_channels} latent channels and the model makes {channels}"
    if companion.scale != pipeline.vae_scale_factor:
        return f"it upsamples latents {companion.scale}x and the model's VAE {pipeline.vae_scale_factor}x"
    return None


def find(pipeline: Any, store: ModelStore | None = None) -> Companion | None:
    """The first installed companion of a known family that fits `pipeline` (`installed`' order), or None."""
    return next((c for c in installed(store) if c.family is not None and misfit(c, pipeline) is None), None)


def choose(decoder: str, pipeline: Any, store: ModelStore | None = None) -> Companion | None:
    """The companion that decodes the result for `decoder` (checked), or None for the model's own VAE.

    "full": None; "auto": `find`'s; "tiny": `find`'s, ModelNotInstalledError (with the download that fixes it)
    when none fits; a repo id: that installed autoencoder, InvalidInputError when it does not fit.
    """
    if decoder == "full":
        return None
    if decoder in ("auto", "tiny"):
        found = find(pipeline, store)
        if found is None and decoder == "tiny":
            family = pipeline_family(pipeline)
            fits = [entry.repo_id for entry in catalog_entries(AUTOENCODER) if entry.latent_family == family]
            fix = f"run `creator-kit models download {fits[0]}`, or " if fits else ""
            raise ModelNotInstalledError(
                f"No installed tiny autoencoder fits {type(pipeline).__name__} ({family or 'unknown'} latents): "
                f"{fix}use decoder='full'."
            )
        return found
    model = (store or ModelStore()).get(decoder)
    companion = describe(model) if model.task == AUTOENCODER else None
    if companion is None:
        raise WrongTaskError(
            f"{decoder} is {with_article(model.task or 'unknown')} model, not a tiny autoencoder (AutoencoderTiny)."
        )
    reason = misfit(companion, pipeline)
    if reason is not None:
        raise InvalidInputError(f"{decoder} does not fit this model: {reason}. Use decoder='full' or another one.")
    return companion


def load_autoencoder(path: Path, *, device: str, dtype: torch.dtype, use_safetensors: bool) -> tuple[Any, None]:
    """diffusers' AutoencoderTiny from a local model folder (the runtime's loader)."""
    try:
        with quiet("diffusers"):
            from diffusers import AutoencoderTiny

            model = AutoencoderTiny.from_pretrained(
                path, dtype=dtype, use_safetensors=use_safetensors, local_files_only=True
            )
    except (ValueError, OSError) as exc:
        raise WrongTaskError(f"The model in {path} is not a tiny autoencoder: {exc}".split("\n")[0]) from exc
    return model.to(device).eval(), None


def load_decoder(
    companion: Companion, loaded: runtime.LoadedModel, *, on_event: EventCallback | None = None
) -> runtime.LoadedModel:
    """`companion` loaded through the runtime's cache on the device and in the dtype of `loaded`, its pipeline."""
    dtype = loaded.dtype if loaded.dtype in DTYPES else None
    return runtime.load(
        companion.repo_id,
        task=AUTOENCODER,
        loader=load_autoencoder,
        device=loaded.device,
        dtype=dtype,
        on_event=on_event,
    )


def decoder_for(
    decoder: str, loaded: runtime.LoadedModel, *, on_event: EventCallback | None = None
) -> tuple[Companion | None, Any | None]:
    """The companion `choose` picks for `decoder` and the pipeline of `loaded`, and its autoencoder loaded by
    `load_decoder` (None and None: the pipeline's own VAE)."""
    companion = choose(decoder, loaded.model)
    return companion, load_decoder(companion, loaded, on_event=on_event).model if companion else None


def load_model(repo_id: str, *, on_event: EventCallback | None = None) -> runtime.LoadedModel:
    """An installed tiny autoencoder loaded on its own (the model browser's Load), on the best device here."""
    return runtime.load(repo_id, task=AUTOENCODER, loader=load_autoencoder, on_event=on_event)


@contextmanager
def decoding(pipeline: Any, autoencoder: Any | None) -> Iterator[None]:
    """Within the block `pipeline` decodes its output with `autoencoder` (None: its own VAE); restored after."""
    if autoencoder is None:
        yield
        return
    own = pipeline.vae
    pipeline.vae = autoencoder
    try:
        yield
    finally:
        pipeline.vae = own


def preview(autoencoder: Any, latents: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """The (channels, h, w) latents decoded by `autoencoder` into an RGB picture of `size` (width, height); decoded
    at most PREVIEW_SIDE pixels wide or high (the latents area-downsampled first), so it stays cheap."""
    import torch
    from PIL import Image

    batch = latents[None].to(autoencoder.dtype)
    longest = max(batch.shape[-2:]) * upsampling(autoencoder.config)
    if longest > PREVIEW_SIDE:
        side = [max(1, n * PREVIEW_SIDE // longest) for n in batch.shape[-2:]]
        batch = torch.nn.functional.interpolate(batch.float(), size=side, mode="area").to(autoencoder.dtype)
    with torch.inference_mode():
        sample = autoencoder.decode(batch).sample[0]
    rgb = sample.float().add(1).mul(127.5).clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR)


def record(companion: Companion | None) -> dict[str, Any]:
    """What a manifest records of the decoder: "tiny" with the companion's id and commit, or "full"."""
    if companion is None:
        return {"decoder": "full", "decoder_model": None, "decoder_revision": None}
    return {"decoder": "tiny", "decoder_model": companion.repo_id, "decoder_revision": companion.commit}


def recorded(parameters: dict[str, Any]) -> str:
    """The `decoder` that renders a manifest's `parameters` again: its companion's id, or "full" (also for
    manifests from before the decoder was recorded)."""
    return (parameters.get("decoder_model") or "full") if parameters.get("decoder") == "tiny" else "full"
