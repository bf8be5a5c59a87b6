"""Text-to-image with the diffusers pipelines in the store (Stable Diffusion 1.x/2.x, SD-Turbo, SDXL).

    result = image.generate("a lighthouse at dawn", model="segmind/tiny-sd", steps=20, seed=7)
    result.save()                      # outputs/image-....png, manifest embedded in the PNG

Previews during sampling, sent as Preview events every step, are the latents decoded by a tiny autoencoder
when one that fits the model is installed (`companions`), else a fixed linear projection of the latents to RGB;
the picture itself is decoded once, at the end, by the model's own VAE (``decoder="full"``) or, for a fast
draft, by the tiny autoencoder (``decoder="tiny"``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from creator_kit.core import files, validate
from creator_kit.core.errors import CancelledError, InvalidInputError, WrongTaskError
from creator_kit.core.events import Done, EventCallback, Preview, Progress, emit
from creator_kit.core.quiet import quiet
from creator_kit.engines import companions, runtime
from creator_kit.engines import manifest as manifests
from creator_kit.engines.sheets import contact_sheet
from creator_kit.library import sizing, variants
from creator_kit.library.catalog import TEXT_TO_IMAGE, model_defaults
from creator_kit.library.store import ModelStore

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline, SchedulerMixin
    from PIL import Image

TASK = TEXT_TO_IMAGE
MIN_SIZE, MAX_SIZE = 16, 2048
MAX_STEPS, MAX_BATCH, MAX_GUIDANCE = 200, 16, 30.0

#: Latent channel -> RGB projections used for previews (the factors ComfyUI and A1111 use).
SD_LATENT_RGB = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SDXL_LATENT_RGB = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)


#: A diffusers text-to-image pipeline and the scheduler it came with (restored when a run asks for no other).
ImageModel: TypeAlias = "runtime.LoadedModel[DiffusionPipeline, SchedulerMixin]"


@dataclass(frozen=True)
class ImageParams:
    """Everything that decides the pixels, besides the model. Each prompt: at most 20,000 characters."""

    prompt: str
    negative_prompt: str = ""
    width: int | None = None  # None: the model's native size
    height: int | None = None
    steps: int = 25
    guidance: float = 7.5
    scheduler: str | None = None  # a scheduler class name from the pipeline's compatibles; None: the model's own
    seed: int | None = None
    batch: int = 1
    decoder: str = "full"  # what decodes the picture: "full" (the model's VAE), "tiny", "auto", a companion's id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImageResult:
    """Images of one generation with their manifest; image i was made with seed `seed + i`."""

    images: list[Image.Image]
    manifest: manifests.Manifest
    elapsed_s: float
    paths: list[Path] = field(default_factory=list)

    @property
    def image(self) -> Image.Image:
        return self.images[0]

    def save(
        self,
        folder: str | Path | None = None,
        name: str | None = None,
        *,
        out: str | Path | None = None,
        overwrite: bool = False,
    ) -> list[Path]:
        """Write every image as PNG with the manifest embedded: new files in `folder`, or exactly `out` (image i of
        a batch: `batch_paths`); an existing file is replaced only with `overwrite`. Returns the paths."""
        outs = batch_paths(out, len(self.images)) if out is not None else [None] * len(self.images)
        self.paths = [
            manifests.save_png(
                image,
                self.image_manifest(i),
                folder=folder,
                name=f"{name}-{i}" if name and i else name,
                out=outs[i],
                overwrite=overwrite,
            )
            for i, image in enumerate(self.images)
        ]
        return self.paths

    def image_manifest(self, index: int) -> manifests.Manifest:
        """The manifest of image `index`: its own seed, and its place in the batch for an exact replay.

        (Rendering seed + index alone gives the same picture up to float rounding: a batch computes in other
        blocks than a single image, so pixels can differ by one level.)
        """
        if len(self.images) == 1:
            return self.manifest
        parameters = dict(self.manifest.parameters, batch_index=index)
        return manifests.Manifest(
            "image", self.manifest.model, self.manifest.revision, parameters, self.manifest.seed + index
        )

    def pick(self, index: int) -> ImageResult:
        """Image `index` of this batch as a result of its own."""
        return ImageResult([self.images[index]], self.image_manifest(index), self.elapsed_s)


def batch_paths(out: str | Path, count: int) -> list[Path]:
    """Where the `count` images of a batch saved to `out` go: `out`, then ``<stem>-1.png``, ``<stem>-2.png``..."""
    out = Path(out)
    return [out, *(out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, count))]


def open_pipeline(
    class_name: str, path: Path, *, dtype: torch.dtype, use_safetensors: bool, kind: str, **components: Any
) -> Any:
    """diffusers' `class_name` from a local model folder (with `components` given in place of the folder's),
    quietly and without its step bar; WrongTaskError if the folder does not hold one (`kind` names what was
    expected)."""
    try:
        with quiet("transformers", "diffusers"):
            import diffusers

            pipeline = getattr(diffusers, class_name).from_pretrained(
                path,
                dtype=dtype,
                use_safetensors=use_safetensors,
                local_files_only=True,
                trust_remote_code=False,
                **components,
            )
    except (ValueError, OSError) as exc:
        raise WrongTaskError(f"The model in {path} is not a {kind}: {exc}".split("\n")[0]) from exc
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def load_pipeline(path: Path, *, device: str, dtype: torch.dtype, use_safetensors: bool) -> tuple[Any, Any]:
    """A diffusers text-to-image pipeline and its own scheduler, from a local model folder (the runtime's loader).

    The scheduler is kept as the LoadedModel's `processor`, so a run that picks another one can go back to it.
    A converted variant (`library.variants`) loads with its OpenVINO parts in place of the torch ones
    (`variant_image.parts`), on the CPU.
    """
    if variants.is_variant(path):
        # OpenVINO loads only for a variant: importing the image engine stays light
        from creator_kit.engines import variant_image

        variants.read_about(path)  # its backend's packages are installed
        parts = variant_image.parts(path, device=device, dtype=dtype)
        pipeline = open_pipeline(
            "AutoPipelineForText2Image", path, dtype=dtype, use_safetensors=True, kind="text-to-image pipeline", **parts
        )
        return pipeline, pipeline.scheduler
    pipeline = open_pipeline(
        "AutoPipelineForText2Image", path, dtype=dtype, use_safetensors=use_safetensors, kind="text-to-image pipeline"
    )
    return pipeline.to(device), pipeline.scheduler


def load_model(
    model: str, *, device: str | None = None, dtype: str | None = None, on_event: EventCallback | None = None
) -> ImageModel:
    """`model` loaded for text-to-image through the runtime's cache (`dtype` None: the best here, see config)."""
    return runtime.load(model, task=TASK, loader=load_pipeline, device=device, dtype=dtype, on_event=on_event)


def schedulers(model: str | ImageModel, *, store: ModelStore | None = None) -> list[str]:
    """Names of the schedulers `model` can sample with (diffusers' compatible scheduler classes).

    For a repo id this reads the model's scheduler configuration from the store; the weights are not loaded.
    """
    if isinstance(model, runtime.LoadedModel):
        own = loaded_model(model).processor
    else:
        import diffusers

        snapshot = (store or ModelStore()).snapshot_path(model)
        named = files.read_json(snapshot / "model_index.json").get("scheduler")
        name = named[1] if isinstance(named, list) and len(named) == 2 and isinstance(named[1], str) else ""
        scheduler = getattr(diffusers, name, None) if name.endswith("Scheduler") else None
        if not isinstance(scheduler, type):
            raise WrongTaskError(f"{model} names no diffusers scheduler in its model_index.json.")
        own = scheduler.from_pretrained(snapshot, subfolder="scheduler")
    return sorted(cls.__name__ for cls in own.compatibles)


def check_params(params: ImageParams) -> ImageParams:
    """`params` with a seed filled in, or InvalidInputError saying what is allowed (None sizes stay None)."""
    validate.prompt(params.prompt)
    validate.prompt(params.negative_prompt, "negative prompt", allow_empty=True)
    for name in ("width", "height"):
        check_size(name, getattr(params, name), MAX_SIZE, optional=True)
    validate.whole_number("steps", params.steps, 1, MAX_STEPS)
    validate.number("guidance", params.guidance, 0, MAX_GUIDANCE)
    validate.whole_number("batch", params.batch, 1, MAX_BATCH)
    companions.check_decoder(params.decoder)
    seed = validate.seed(params.seed)
    return replace(params, seed=validate.random_seed() if seed is None else seed)


def check_size(name: str, value: Any, high: int, *, optional: bool = False) -> None:
    """InvalidInputError unless `value` is a multiple of 8 from MIN_SIZE to `high` (what diffusion models need)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SIZE <= value <= high or value % 8:
        raise InvalidInputError(f"{name} must be a multiple of 8 from {MIN_SIZE} to {high}, not {value!r}.")


def check_fits(
    loaded: runtime.LoadedModel, width: int, height: int, *, images: int, guidance: float, unit: str = "image"
) -> None:
    """InvalidInputError, before any sampling, when one sampling step of `loaded`'s UNet over `images` pictures
    (`unit`: "frame" for a video) of width x height needs more memory than its device has free: with the estimate
    (`sizing.sampling_step_bytes`), what is free, and the largest size of the same shape that fits with headroom
    (`sizing.Fit`: "fits")."""
    pipeline = loaded.model
    if getattr(pipeline, "unet", None) is None:
        return  # the estimate models UNets; a transformer pipeline (Wan) runs unchecked
    scale, latents = pipeline.vae_scale_factor, images * (2 if guidance > 1 else 1)  # x2: classifier-free guidance
    available = sizing.available_memory(loaded.device)

    def fit(size: tuple[int, int]) -> sizing.Fit:
        w, h = size
        needed = sizing.sampling_step_bytes(
            pipeline.unet.config,
            (h // scale, w // scale),
            latents=latents,
            element_bytes=pipeline.unet.dtype.itemsize,
            device=loaded.device,
        )
        return sizing.Fit(needed, available)

    asked = fit((width, height))
    if asked.verdict != "won't fit":
        return
    longest = max(width, height)
    smaller = (
        (max(MIN_SIZE, width * side // longest // 8 * 8), max(MIN_SIZE, height * side // longest // 8 * 8))
        for side in range(longest - 8, MIN_SIZE - 1, -8)
    )
    fitting = next((size for size in smaller if fit(size).verdict == "fits"), None)
    advice = f"the largest size of this shape that fits is {fitting[0]}x{fitting[1]}" if fitting else "no size fits"
    raise InvalidInputError(
        f"{width}x{height} ({images} {unit}{'s' if images > 1 else ''}) needs about {sizing.human_size(asked.needed)} "
        f"of memory for each sampling step on {loaded.device}, but {sizing.human_size(available)} is free: "
        f"{advice}{' (or fewer at once)' if images > 1 else ''}."
    )


def generate(
    prompt: str,
    *,
    model: str | ImageModel,
    previews: bool = True,
    device: str | None = None,
    dtype: str | None = None,
    cancel: threading.Event | None = None,
    on_event: EventCallback | None = None,
    **params: Any,
) -> ImageResult:
    """Render `prompt` with `model` (a repo id in the store, or a LoadedModel).

    `prompt` (and `negative_prompt`) hold at most validate.MAX_PROMPT_CHARS (20,000) characters; a size whose
    sampling would not fit in memory is refused before it starts (`check_fits`).
    `dtype` ("float32", "bfloat16", "float16") overrides the best one for the device (bfloat16 on CPUs with
    AVX512-BF16 / AMX, `devices.select_dtype`); the manifest records it and `replay` uses it again.
    `params` are ImageParams fields; one not given (or None) takes the model's catalog default (`defaults`), and
    the manifest records the values used. Each step sends Progress (unit "step") and, with `previews`, a
    Preview holding a cheap RGB picture of the current latents at the output size (`previewer`). `decoder`
    "tiny" decodes the picture with the installed tiny autoencoder that fits the model (`companions.choose`), in
    the pipeline's dtype; the manifest records which. Setting `cancel` stops between steps with CancelledError.
    """
    import torch

    validate.known_keywords(
        params, [name for name in ImageParams.__dataclass_fields__ if name != "prompt"], "image parameter"
    )
    given = {name: value for name, value in params.items() if value is not None}
    checked = check_params(ImageParams(prompt=prompt, **{**defaults(getattr(model, "repo_id", model)), **given}))
    loaded = loaded_model(model, device, dtype)
    pipeline = loaded.model
    native = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    checked = replace(checked, width=checked.width or native, height=checked.height or native)
    check_fits(loaded, checked.width, checked.height, images=checked.batch, guidance=checked.guidance)
    use_scheduler(loaded, checked.scheduler)
    companion, decoder = companions.decoder_for(checked.decoder, loaded, on_event=on_event)
    preview = previewer(loaded, checked, decoder) if previews and on_event is not None else None
    cancel = cancel or threading.Event()

    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if cancel.is_set():
            raise CancelledError(f"Image generation cancelled after {step + 1} of {checked.steps} steps.")
        emit(on_event, Progress("image", step + 1, checked.steps, unit="step"))
        if preview is not None:
            emit(on_event, Preview("image", step + 1, preview(tensors["latents"][0])))
        return tensors

    generators = [torch.Generator("cpu").manual_seed(checked.seed + i) for i in range(checked.batch)]
    start = time.perf_counter()
    with torch.inference_mode(), companions.decoding(pipeline, decoder):
        images = pipeline(
            prompt=[checked.prompt] * checked.batch,
            negative_prompt=[checked.negative_prompt] * checked.batch if checked.negative_prompt else None,
            width=checked.width,
            height=checked.height,
            num_inference_steps=checked.steps,
            guidance_scale=checked.guidance,
            generator=generators,
            callback_on_step_end=on_step_end,
        ).images
    parameters = dict(checked.to_dict(), scheduler=type(pipeline.scheduler).__name__, device=loaded.device)
    parameters.update(dtype=loaded.dtype, backend=getattr(pipeline.unet, "backend", "torch"))
    parameters.update(companions.record(companion))
    record = manifests.Manifest("image", loaded.repo_id, loaded.commit, parameters, checked.seed)
    result = ImageResult(images, record, time.perf_counter() - start)
    emit(on_event, Done("image", result))
    return result


def defaults(model: str) -> dict[str, Any]:
    """The settings `generate` uses for `model` where none are given: its catalog entry's (steps, guidance, width,
    height, scheduler), else ImageParams' (25 steps, guidance 7.5; size None: the model's native size; scheduler
    None: its own). The panels fill their controls from this."""
    generic = ImageParams(prompt="")
    own = {name: getattr(generic, name) for name in ("width", "height", "steps", "guidance", "scheduler")}
    return {**own, **{k: v for k, v in model_defaults(model).items() if k in own}}


def call_from(record: manifests.Manifest) -> dict[str, Any]:
    """The arguments of `generate` that render the picture of `record` again (the prompt first)."""
    settings = {name: record.parameters[name] for name in ImageParams.__dataclass_fields__ if name != "decoder"}
    settings["decoder"] = companions.recorded(record.parameters)
    return dict(settings, model=record.model, device=record.parameters.get("device"), dtype=recorded_dtype(record))


def replay(source: manifests.Manifest | str | Path, **overrides: Any) -> ImageResult:
    """Render an image manifest (or the PNG it is embedded in) again, optionally changing some parameters."""
    record = manifests.of_kind(source, "image")
    settings = {**call_from(record), **overrides}
    result = generate(settings.pop("prompt"), **settings)
    index = record.parameters.get("batch_index")
    return result if index is None or "batch" in overrides else result.pick(index)


@dataclass
class SweepResult:
    """A parameter sweep: one image per combination of the axes, and the labelled contact sheet."""

    sheet: Image.Image
    axes: dict[str, list[Any]]
    cells: list[tuple[dict[str, Any], ImageResult]]
    manifest: manifests.Manifest

    def save(self, folder: str | Path | None = None, name: str | None = None) -> Path:
        """Write the contact sheet as PNG with the sweep's manifest embedded."""
        return manifests.save_png(self.sheet, self.manifest, folder=folder, name=name)


def sweep(
    prompt: str,
    *,
    model: str | ImageModel,
    axes: dict[str, list[Any]],
    cancel: threading.Event | None = None,
    on_event: EventCallback | None = None,
    **params: Any,
) -> SweepResult:
    """Render every combination of `axes` (e.g. ``{"seed": [1, 2], "guidance": [4, 8]}``) into a contact sheet.

    The last axis runs along the columns, the others down the rows; each cell is labelled with its values.
    """
    if not axes or any(not isinstance(values, list | tuple) or not values for values in axes.values()):
        raise InvalidInputError("axes maps parameter names to non-empty lists of values, e.g. {'seed': [1, 2]}.")
    unknown = sorted(set(axes) - set(ImageParams.__dataclass_fields__) - {"prompt"})
    if unknown or "batch" in axes:
        raise InvalidInputError(f"Cannot sweep over {', '.join(unknown or ['batch'])}.")
    loaded = loaded_model(model, params.pop("device", None), params.pop("dtype", None))
    combinations = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    cells = []
    for index, values in enumerate(combinations):
        cell = generate(prompt, model=loaded, previews=False, cancel=cancel, **{**params, **values})
        cells.append((values, cell))
        emit(on_event, Progress("sweep", index + 1, len(combinations), unit="image"))
    columns = len(list(axes.values())[-1])
    sheet = contact_sheet([cell.image for _, cell in cells], [axis_label(values) for values, _ in cells], columns)
    base = dict(cells[0][1].manifest.parameters, batch=1)
    record = manifests.Manifest("image-sweep", loaded.repo_id, loaded.commit, dict(base, axes=axes), base["seed"])
    result = SweepResult(sheet, {k: list(v) for k, v in axes.items()}, cells, record)
    emit(on_event, Done("sweep", result))
    return result


def axis_label(values: dict[str, Any]) -> str:
    """A grid cell's label: its axis values, ``name=value`` each."""
    return " ".join(f"{name}={value}" for name, value in values.items())


def previewer(
    loaded: ImageModel, params: ImageParams, decoder: Any | None = None
) -> Callable[[torch.Tensor], Image.Image]:
    """What turns a step's (channels, h, w) latents into a preview at the output size of `params`: `decoder` (a
    loaded tiny autoencoder) when given, else the installed companion that fits `loaded` (`companions.find`), else
    the latent projection (`latents_to_preview`)."""
    if decoder is None:
        companion = companions.find(loaded.model)
        decoder = companions.load_decoder(companion, loaded).model if companion else None
    if decoder is not None:
        return partial(companions.preview, decoder, size=(params.width, params.height))
    return partial(latents_to_preview, latent_rgb=_latent_rgb(loaded.model), params=params)


def latents_to_preview(latents: torch.Tensor, latent_rgb: torch.Tensor, params: ImageParams) -> Image.Image:
    """A cheap RGB look at (channels, h, w) latents, resized to the output size."""
    from PIL import Image

    rgb = (latents.float().permute(1, 2, 0) @ latent_rgb).add(1).mul(127.5).clamp(0, 255).byte().cpu().numpy()
    return Image.fromarray(rgb).resize((params.width, params.height), Image.Resampling.BILINEAR)


def _latent_rgb(pipeline: Any) -> torch.Tensor:
    import torch

    factors = SDXL_LATENT_RGB if "XL" in type(pipeline).__name__ else SD_LATENT_RGB
    return torch.tensor(factors, dtype=torch.float32, device=pipeline.device)


def use_scheduler(loaded: ImageModel, name: str | None) -> None:
    """Give the pipeline the scheduler class `name` built from the model's own configuration (None: the model's own)."""
    pipeline, own = loaded.model, loaded.processor
    if name is None or name == type(own).__name__:
        pipeline.scheduler = own
        return
    options = {cls.__name__: cls for cls in own.compatibles}
    if name not in options:
        raise InvalidInputError(
            f"Unknown scheduler {name!r} for this model. Choose one of: {', '.join(sorted(options))}."
        )
    if type(pipeline.scheduler).__name__ != name:
        pipeline.scheduler = options[name].from_config(own.config)


def recorded_dtype(record: manifests.Manifest) -> str | None:
    """The dtype `record` was made in; float32 for manifests from before it was recorded (the CPU default then)."""
    stored = record.parameters
    return stored.get("dtype", "float32" if stored.get("device") == "cpu" else None)


def loaded_model(model: str | ImageModel, device: str | None = None, dtype: str | None = None) -> ImageModel:
    """`model` ready to render: a LoadedModel as it is, a repo id loaded on `device` in `dtype`."""
    return runtime.resolve(model, task=TASK, load=lambda repo_id: load_model(repo_id, device=device, dtype=dtype))
