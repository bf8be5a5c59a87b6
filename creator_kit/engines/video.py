"""Video: the parameters, native text-to-video sampling, and `generate` / `replay`, which write the MP4.

    result = video.generate("a fox crossing a snowy forest", model="segmind/tiny-sd", quality="draft", seed=7)
    result.path                       # outputs/video-....mp4 (+ .mp4.json manifest, -keyframes.png contact sheet)

`model` picks the pipeline: a text-to-video model (e.g. the TextToVideoSD family) samples the frames itself
(stage ``sample``); a text-to-image model makes a `storyboard` (stages ``script``, ``keyframes``, ``motion``).
Either hands over its `frames.Footage`, and one writer captions and encodes it (stage ``encode``): an H.264 /
yuv420p MP4 with an optional audio track, the manifest sidecar, a keyframe contact sheet and, if asked, a GIF.

Durations and fps are exact: the video has round(duration * fps) frames. A native model renders at its own size and
frame count unless they are given; a storyboard takes the quality preset's. Overall progress is a Progress event
without a stage, counted in estimated work units (one unit: one sampling step), with a Metric carrying the ETA.
The manifest sidecar records the sha256 of the frames before encoding: `replay` renders again without the cache
and `creator-kit reproduce` compares those hashes, since re-encoding is not guaranteed to give identical bytes.
"""

from __future__ import annotations

import inspect
import threading
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from creator_kit.core import files, validate
from creator_kit.core.errors import CancelledError, InvalidInputError, WrongTaskError
from creator_kit.core.events import Done, EventCallback, Preview, Stages, emit
from creator_kit.core.words import with_article
from creator_kit.engines import companions, frames, image, runtime, storyboard
from creator_kit.engines import manifest as manifests
from creator_kit.engines.storyboard import MAX_SCENES
from creator_kit.engines.video_params import QUALITIES, VideoParams
from creator_kit.library.catalog import catalog_entry
from creator_kit.library.store import ModelStore

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline
    from PIL import Image

TASK = "text-to-video"  # the pipeline task of native models
OPERATION = "video"  # what the events of a run name
MAX_SIZE, MAX_DURATION, MAX_FPS, MAX_DENSITY = 1024, 120.0, 60, 16
SIDES = ("width", "height")
DEFAULT_DURATION = 4.0  # seconds
FRAME_WORK = 0.05  # estimated cost, in sampling steps, of encoding one frame
STEP_FRAMES = 16  # a native sampling step over this many frames costs about one image sampling step

#: A diffusers text-to-video pipeline (no processor).
VideoModel: TypeAlias = "runtime.LoadedModel[DiffusionPipeline, None]"


@dataclass
class VideoResult:
    """A finished video: the MP4, its frames, the keyframes, and the manifest beside it."""

    path: Path
    frames: list[np.ndarray]
    keyframes: list[Image.Image]
    scenes: list[str]
    manifest: manifests.Manifest
    elapsed_s: float
    stage_seconds: dict[str, float]
    rendered: dict[str, list[int]]  # scenes whose keyframe, and transitions whose in-betweens, were rendered now
    sheet_path: Path
    gif_path: Path | None = None

    @property
    def fps(self) -> int:
        return self.manifest.parameters["fps"]

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "gif_path": str(self.gif_path) if self.gif_path else None,
            "sheet_path": str(self.sheet_path),
            "frames": len(self.frames),
            "duration_s": self.duration_s,
            "scenes": self.scenes,
            "elapsed_s": self.elapsed_s,
            "stage_seconds": self.stage_seconds,
            "rendered": self.rendered,
            "manifest": self.manifest.to_dict(),
        }


def load_pipeline(path: Path, *, device: str, dtype: torch.dtype, use_safetensors: bool) -> tuple[Any, Any]:
    """A diffusers text-to-video pipeline from a local model folder (the runtime's loader).

    Wan's autoencoder stays in float32 whatever `dtype` the rest takes (what Wan's authors recommend: a bfloat16
    or float16 decode loses detail); its share of the weights is small.
    """
    import torch

    index = files.read_json(path / "model_index.json") if (path / "model_index.json").is_file() else {}
    if index.get("_class_name", "").startswith("Wan") and dtype != torch.float32:
        dtype = {"default": dtype, "vae": torch.float32}
    pipeline = image.open_pipeline(
        "DiffusionPipeline", path, dtype=dtype, use_safetensors=use_safetensors, kind="diffusers video pipeline"
    )
    if "num_frames" not in inspect.signature(pipeline.__call__).parameters:
        raise WrongTaskError(f"The model in {path} ({type(pipeline).__name__}) does not make videos.")
    return pipeline.to(device), None


def load_model(
    model: str, *, device: str | None = None, dtype: str | None = None, on_event: EventCallback | None = None
) -> VideoModel:
    """`model` loaded for text-to-video through the runtime's cache (`dtype` None: the best here, see config)."""
    return runtime.load(model, task=TASK, loader=load_pipeline, device=device, dtype=dtype, on_event=on_event)


def check_params(params: VideoParams) -> VideoParams:
    """`params` with the quality preset and a seed filled in, or InvalidInputError saying what is allowed."""
    validate.choice("quality", params.quality, QUALITIES)
    params = replace(params, **{k: v for k, v in QUALITIES[params.quality].items() if getattr(params, k) is None})
    companions.check_decoder(params.decoder)
    if len(params.scenes) > MAX_SCENES:
        raise InvalidInputError(f"There are {len(params.scenes)} scenes; a video has at most {MAX_SCENES}.")
    validate.prompt(params.idea, "idea", allow_empty=True)
    for index, scene in enumerate(params.scenes):
        validate.prompt(scene, f"prompt of scene {index + 1}")
    if not params.idea.strip() and not params.scenes:
        raise InvalidInputError("There are zero scenes: give an idea (prompt) or a non-empty list of scene prompts.")
    validate.prompt(params.negative_prompt, "negative prompt", allow_empty=True)
    validate.whole_number("n_scenes", params.n_scenes, 1, MAX_SCENES, optional=True)
    if params.n_scenes is not None and params.scenes and params.n_scenes != len(params.scenes):
        raise InvalidInputError(f"n_scenes is {params.n_scenes} but {len(params.scenes)} scenes were given.")
    count = storyboard.scene_count(params)
    for name in ("scene_seconds", "caption_texts"):
        values = getattr(params, name)
        if values and len(values) != count:
            raise InvalidInputError(f"{name} has {len(values)} entries for {count} scenes: give one per scene.")
    if not all(isinstance(text, str) for text in params.caption_texts):
        raise InvalidInputError('caption_texts must be text, one entry per scene ("" for no caption).')
    for index, caption in enumerate(params.caption_texts):
        validate.prompt(caption, f"caption of scene {index + 1}", allow_empty=True)
    if params.scene_seconds:
        for index, seconds in enumerate(params.scene_seconds):
            validate.number(f"scene_seconds[{index}]", seconds, 0, above=True, hint=" seconds")
        params = replace(params, duration=float(sum(params.scene_seconds)))
    params = _check_frames(replace(params, duration=DEFAULT_DURATION if params.duration is None else params.duration))
    validate.whole_number("steps", params.steps, 1, image.MAX_STEPS)
    validate.whole_number("density", params.density, 0, MAX_DENSITY)
    validate.number("guidance", params.guidance, 0, image.MAX_GUIDANCE)
    validate.number("transition", params.transition, 0, hint=" seconds")
    if params.audio is not None:
        frames.check_audio(params.audio)
    seed = validate.seed(params.seed)
    return replace(params, seed=validate.random_seed() if seed is None else seed)


def _check_frames(params: VideoParams) -> VideoParams:
    """`params` if its duration, fps and size are allowed and give every scene one frame at least."""
    validate.number("duration", params.duration, 0, MAX_DURATION, above=True, hint=" seconds")
    validate.whole_number("fps", params.fps, 1, MAX_FPS)
    for name in ("width", "height"):
        image.check_size(name, getattr(params, name), MAX_SIZE)
    if round(params.duration * params.fps) < (len(params.scenes) or params.n_scenes or 1):
        raise InvalidInputError(
            f"{params.duration} s at {params.fps} fps is fewer frames than scenes: give every scene one frame at least."
        )
    return params


def _own_defaults(checked: VideoParams, given: VideoParams, pipeline: Any, *, frames: int | None) -> VideoParams:
    """`checked` with a native `pipeline`'s own size and frame count where `given` set none (not the preset's),
    and with the frame count a pipeline that compresses time needs.

    The size is the UNet's sample size x the VAE's scale factor (a transformer pipeline, e.g. Wan: the height and
    width defaults of its ``__call__``); the frame count is `frames` (the catalog's), else the default of
    `num_frames` in the ``__call__``, at the fps used (with no whole-number default, the duration stays). A VAE
    that packs `t` frames into one latent frame (Wan: 4) decodes t * k + 1 frames: the nearest such count is
    taken, and the duration follows it. Frame sides must be a multiple of `_size_multiple` (Wan: 16).
    """
    call = inspect.signature(pipeline.__call__).parameters
    unet = getattr(pipeline, "unet", None)
    own = {name: unet.config.sample_size * pipeline.vae_scale_factor if unet else call[name].default for name in SIDES}
    changes: dict[str, Any] = {name: own[name] for name in SIDES if getattr(given, name) is None}
    frames_default = frames or call["num_frames"].default
    if given.duration is None and not given.scene_seconds and isinstance(frames_default, int):
        changes["duration"] = frames_default / checked.fps
    params = _check_frames(replace(checked, **changes))
    temporal = getattr(pipeline, "vae_scale_factor_temporal", None) if unet is None else None
    if temporal:
        count = max(0, round((round(params.duration * params.fps) - 1) / temporal)) * temporal + 1
        params = replace(params, duration=count / params.fps)
    multiple = _size_multiple(pipeline)
    for name in SIDES:
        if (value := getattr(params, name)) % multiple:
            kind = type(pipeline).__name__
            raise InvalidInputError(f"{kind} needs a {name} that is a multiple of {multiple}, not {value}.")
    return params


def _size_multiple(pipeline: Any) -> int:
    """What frame sides must be a multiple of: the VAE's scale x the transformer's patch size (Wan: 8 x 2), else 8."""
    transformer = getattr(pipeline, "transformer", None)
    patch = getattr(getattr(transformer, "config", None), "patch_size", None)
    if patch is None or not hasattr(pipeline, "vae_scale_factor_spatial"):
        return 8
    return pipeline.vae_scale_factor_spatial * patch[-1]


def defaults(model: str) -> dict[str, Any]:
    """The catalog's settings for `model`, used where `generate` is given none: a text-to-video entry's width,
    height, fps, steps, guidance and ``frames`` (its frame count: the duration where none is given); a
    text-to-image entry's steps and guidance, for a storyboard's pictures (their size stays the quality preset's).
    Empty for a model not in the catalog. They win over the quality preset, never over a value given."""
    entry = catalog_entry(model)
    if entry is None:
        return {}
    keep = ("steps", "guidance") if entry.task == image.TASK else (*SIDES, "fps", "steps", "guidance", "frames")
    return {name: value for name, value in entry.defaults.items() if name in keep}


def sample(loaded: VideoModel, params: VideoParams, stages: Stages) -> frames.Footage:
    """Frames from a text-to-video pipeline, with step progress and a preview of the middle frame's latents."""
    import torch

    pipeline = loaded.model
    prompt = (params.scenes or (params.idea.strip(),))[0]
    count = round(params.duration * params.fps)
    size = image.ImageParams("", width=params.width, height=params.height)
    image.check_fits(loaded, params.width, params.height, images=count, guidance=params.guidance, unit="frame")
    companion, decoder = companions.decoder_for(params.decoder, loaded, on_event=stages.on_event)
    preview = image.previewer(loaded, size, decoder) if stages.on_event is not None else None
    stages.start("sample", f"{count} frames at {params.width}x{params.height}, {params.steps} steps")

    def on_step(step: int, latents: torch.Tensor) -> None:
        stages.advance()
        if preview is not None and latents.ndim == 5 and latents.shape[1] == len(image.SD_LATENT_RGB):
            emit(stages.on_event, Preview(stages.operation, step + 1, preview(latents[0, :, count // 2])))

    if "callback_on_step_end" in inspect.signature(pipeline.__call__).parameters:
        callback = {"callback_on_step_end": lambda pipe, step, t, tensors: on_step(step, tensors["latents"]) or tensors}
    else:
        callback = {"callback": lambda step, t, latents: on_step(step, latents)}
    with torch.inference_mode(), companions.decoding(pipeline, decoder):
        video = pipeline(
            prompt=prompt,
            negative_prompt=params.negative_prompt or None,
            num_frames=count,
            width=params.width,
            height=params.height,
            num_inference_steps=params.steps,
            guidance_scale=params.guidance,
            generator=torch.Generator("cpu").manual_seed(params.seed),
            output_type="np",
            **callback,
        ).frames[0]
    clip = list((np.asarray(video) * 255).round().astype(np.uint8))
    return frames.Footage(
        model=loaded,
        scenes=[prompt],
        seeds=[params.seed],
        frames=clip,
        keyframes=[clip[0], clip[len(clip) // 2], clip[-1]],
        labels=["first", "middle", "last"],
        rendered={"keyframes": [], "motion": []},
        notes={"mode": "native", "text_model": None, "text_revision": None, **companions.record(companion)},
    )


def generate(
    prompt: str = "",
    *,
    model: str | runtime.LoadedModel,
    text_model: str | runtime.LoadedModel | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    cache: bool = True,
    device: str | None = None,
    dtype: str | None = None,
    cancel: threading.Event | None = None,
    on_event: EventCallback | None = None,
    **params: Any,
) -> VideoResult:
    """A video of `prompt` (the idea) by `model`: a text-to-video model (native) or text-to-image (storyboard).

    `params` are VideoParams fields (scenes, n_scenes, quality, duration, fps, width, height, steps, ...); texts
    hold at most validate.MAX_PROMPT_CHARS characters each. A native model renders at its own size and frame count
    unless width, height or duration are given. A size that would not fit in memory is refused before sampling.
    `out`: the .mp4 to write (default: a new file in the outputs folder); it, its manifest ``<out>.json``, keyframe
    sheet and GIF must not exist unless `overwrite`. `cache=False` renders everything again.
    """
    validate.known_keywords(
        params, [name for name in VideoParams.__dataclass_fields__ if name != "idea"], "video parameter"
    )
    settings = defaults(getattr(model, "repo_id", model))
    own_frames = settings.pop("frames", None)
    params = {**settings, **{name: value for name, value in params.items() if value is not None}}
    for name in ("scenes", "scene_seconds", "caption_texts"):
        params[name] = tuple(params.get(name) or ())
    given = VideoParams(idea=prompt or "", **params)
    checked = check_params(given)
    path = manifests.output_path("video", "mp4", out=out, overwrite=overwrite)
    manifests.claim([sheet_path(path), *([path.with_suffix(".gif")] if checked.gif else [])], overwrite=overwrite)
    task = model.task if isinstance(model, runtime.LoadedModel) else ModelStore().get(model).task
    if task not in (TASK, image.TASK):
        name = getattr(model, "repo_id", model)
        raise WrongTaskError(
            f"{name} is {with_article(task)} model; a video needs a text-to-video or text-to-image model."
        )
    native = task == TASK
    if native and text_model is not None:
        raise InvalidInputError("A text-to-video model renders the prompt itself: leave text_model out.")
    if native and (len(checked.scenes) > 1 or checked.n_scenes not in (None, 1)):
        raise InvalidInputError(
            "A text-to-video model renders one prompt; for several scenes use a text-to-image model."
        )
    if native:
        loaded = runtime.resolve(
            model, task=TASK, load=partial(load_model, device=device, dtype=dtype, on_event=on_event)
        )
        checked = _own_defaults(checked, given, loaded.model, frames=own_frames)
    frame_count = round(checked.duration * checked.fps)
    plan = (
        {"sample": (checked.steps, "step", frame_count / STEP_FRAMES)}
        if native
        else storyboard.plan(checked, text_model)
    )
    plan["encode"] = (frame_count, "frame", FRAME_WORK)
    stages = Stages(OPERATION, plan, title="Video generation", cancel=cancel, on_event=on_event)
    try:
        if native:
            footage = sample(loaded, checked, stages)
        else:
            footage = storyboard.make(
                checked, model=model, text_model=text_model, stages=stages, cache=cache, device=device, dtype=dtype
            )
        return _write(footage, checked, path, stages)
    except CancelledError as exc:
        raise stages.cancelled() from exc


def _write(footage: frames.Footage, params: VideoParams, path: Path, stages: Stages) -> VideoResult:
    """Caption and encode `footage` to `path`, with its manifest, keyframe sheet and GIF; the MP4 appears last."""
    params = replace(params, scenes=tuple(footage.scenes))
    stream = footage.frames
    if params.captions or params.caption_texts:
        line = params.timeline(len(footage.scenes))
        stream = frames.with_captions(stream, list(params.caption_texts) or footage.scenes, line)
    count = round(params.duration * params.fps)
    stages.start("encode", f"{count} frames, {params.duration:g} s at {params.fps} fps, H.264 -> {path.name}")
    kept: list[np.ndarray] = []

    def on_frame(index: int, frame: np.ndarray) -> None:
        kept.append(frame)
        stages.advance()

    with files.atomic_path(path) as partial:  # renamed into place last, once its manifest is beside it
        size = (params.width, params.height)
        digest = frames.encode_mp4(
            stream, partial, size=size, fps=params.fps, audio=params.audio, frame_count=count, on_frame=on_frame
        )
        loaded = footage.model
        notes = dict(footage.notes, seeds=footage.seeds, frames=len(kept), frames_sha256=digest, device=loaded.device)
        notes["dtype"] = loaded.dtype
        record = manifests.Manifest(
            "video", loaded.repo_id, loaded.commit, dict(params.to_dict(), **notes), params.seed
        )
        pictures = [frames.to_image(picture) for picture in footage.keyframes]
        sheet = sheet_path(path)
        with files.atomic_path(sheet) as partial_sheet:
            image.contact_sheet(pictures, footage.labels, columns=min(4, len(pictures))).save(partial_sheet)
        gif_path = path.with_suffix(".gif") if params.gif else None
        if gif_path is not None:
            with files.atomic_path(gif_path) as gif:
                frames.save_gif(kept, gif, params.fps)
        files.write_text(manifests.sidecar(path), record.to_json())
    seconds = stages.finish()
    elapsed = time.perf_counter() - stages.start_time
    result = VideoResult(
        path, kept, pictures, footage.scenes, record, elapsed, seconds, footage.rendered, sheet, gif_path
    )
    emit(stages.on_event, Done(OPERATION, result))
    return result


def call_from(record: manifests.Manifest) -> dict[str, Any]:
    """The arguments of `generate` that render the video of `record` again (the idea, as `prompt`, first)."""
    stored = record.parameters
    settings = {name: stored[name] for name in VideoParams.__dataclass_fields__ if name not in ("idea", "decoder")}
    context = {"device": stored.get("device"), "dtype": image.recorded_dtype(record)}
    context["decoder"] = companions.recorded(stored)
    return {"prompt": stored["idea"], "model": record.model, **settings, **context}


def replay(source: manifests.Manifest | str | Path, *, out: str | Path | None = None, **overrides: Any) -> VideoResult:
    """Render a video manifest (or the MP4 beside its sidecar) again from scratch (no cache), optionally changed."""
    settings = {**call_from(manifests.of_kind(source, "video")), "cache": False, "out": out, **overrides}
    return generate(settings.pop("prompt"), **settings)


def sheet_path(path: Path) -> Path:
    """The keyframe contact sheet written beside the video `path`."""
    return path.with_name(f"{path.stem}-keyframes.png")
