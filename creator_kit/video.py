"""Video: native text-to-video pipelines, and the storyboard pipeline that works with any text and image models.

    result = video.generate("a fox crossing a snowy forest", model="segmind/tiny-sd", quality="draft", seed=7)
    result.path                       # outputs/video-....mp4 (+ .json manifest, -keyframes.png contact sheet)

Storyboard (`model` is a text-to-image model), in four stages that the events name:

1. ``script``: a text model (`text_model`) writes `n_scenes` scene prompts from the idea; or the caller
   gives `scenes`; or the idea is used for every scene, each with its own seed.
2. ``keyframes``: one picture per scene from `image.generate`, scene i with seed ``seed + i``.
3. ``motion``: between neighbouring scenes, `density` in-between pictures rendered from a slerp of the two
   keyframes' initial noise and prompt embeddings; the cut crossfades through them, and a Ken Burns
   camera moves over every frame.
4. ``encode``: captions, H.264 / yuv420p MP4 with an optional audio track, GIF, keyframe contact sheet.

Native (`model` is a text-to-video model, e.g. the TextToVideoSD family): stages ``sample`` and ``encode``.

Durations and fps are exact: the video has round(duration * fps) frames. Keyframes and in-betweens are
cached under ``outputs/.cache/video`` by a hash of everything that decides their pixels, so editing one
scene re-renders only that scene's keyframe and the transitions touching it. Overall progress is a
Progress event without a stage, counted in estimated work units (one unit: one sampling step), with a
Metric carrying the ETA. The manifest sidecar records the sha256 of the frames before encoding:
`replay` renders again without the cache and `creator-kit reproduce` compares those hashes, since
re-encoding is not guaranteed to give identical bytes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from creator_kit import compose, image, runtime
from creator_kit import manifest as manifests
from creator_kit.config import get_settings
from creator_kit.errors import CancelledError, InvalidInputError, WrongTaskError
from creator_kit.events import Done, EventCallback, Log, Metric, Preview, Progress, emit
from creator_kit.store import ModelStore

if TYPE_CHECKING:
    import torch
    from PIL import Image

TASK = "text-to-video"
MIN_SIZE, MAX_SIZE = 16, 1024
MAX_DURATION, MAX_FPS, MAX_SCENES, MAX_DENSITY = 120.0, 60, 24, 16
MAX_SEED = 2**32 - 1 - MAX_SCENES
SCRIPT_UNITS, FRAME_UNITS = 10.0, 0.05  # estimated cost, in sampling steps, of a scene prompt and of one output frame

#: Quality presets; explicit parameters override them.
QUALITIES: dict[str, dict[str, int]] = {
    "draft": {"width": 256, "height": 256, "steps": 10, "density": 1, "fps": 8},
    "standard": {"width": 512, "height": 512, "steps": 25, "density": 2, "fps": 12},
    "high": {"width": 768, "height": 768, "steps": 40, "density": 4, "fps": 24},
}


@dataclass(frozen=True)
class VideoParams:
    """Everything that decides the frames, besides the models. None takes the quality preset's value."""

    idea: str = ""
    scenes: tuple[str, ...] = ()  # storyboard scene prompts; empty: written from the idea
    n_scenes: int | None = None  # scenes to write from the idea (default 3)
    negative_prompt: str = ""
    quality: str = "standard"
    duration: float = 4.0  # seconds, the whole video
    fps: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float = 7.5
    density: int | None = None  # in-between pictures per transition
    transition: float = 0.5  # seconds of crossfade at each cut
    seed: int | None = None
    scene_seconds: tuple[float, ...] = ()  # per-scene durations; given, their sum is the duration
    captions: bool = False  # a caption over each scene: its `caption_texts` entry, else its prompt
    caption_texts: tuple[str, ...] = ()  # per-scene caption text ("" for none); given, captions are on
    audio: str | None = None
    gif: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(
            asdict(self),
            scenes=list(self.scenes),
            scene_seconds=list(self.scene_seconds),
            caption_texts=list(self.caption_texts),
        )


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
    """A diffusers text-to-video pipeline from a local model folder (the runtime's loader)."""
    pipeline = image.open_pipeline(
        "DiffusionPipeline", path, dtype=dtype, use_safetensors=use_safetensors, kind="diffusers video pipeline"
    )
    if "num_frames" not in inspect.signature(pipeline.__call__).parameters:
        raise WrongTaskError(f"The model in {path} ({type(pipeline).__name__}) does not make videos.")
    return pipeline.to(device), None


def load_model(model: str, *, device: str | None = None, on_event: EventCallback | None = None) -> runtime.LoadedModel:
    """`model` loaded for text-to-video through the runtime's cache."""
    return runtime.load(model, task=TASK, loader=load_pipeline, device=device, on_event=on_event)


def check_params(params: VideoParams) -> VideoParams:
    """`params` with the quality preset and a seed filled in, or InvalidInputError saying what is allowed."""
    if params.quality not in QUALITIES:
        raise InvalidInputError(f"Unknown quality {params.quality!r}; choose one of {', '.join(QUALITIES)}.")
    preset = QUALITIES[params.quality]
    params = replace(params, **{k: v for k, v in preset.items() if getattr(params, k) is None})
    if not isinstance(params.idea, str) or not all(isinstance(s, str) and s.strip() for s in params.scenes):
        raise InvalidInputError("The idea must be text and every scene a non-empty text prompt.")
    if not params.idea.strip() and not params.scenes:
        raise InvalidInputError("There are zero scenes: give an idea (prompt) or a non-empty list of scene prompts.")
    _check_int("n_scenes", params.n_scenes, 1, MAX_SCENES, optional=True)
    if params.n_scenes is not None and params.scenes and params.n_scenes != len(params.scenes):
        raise InvalidInputError(f"n_scenes is {params.n_scenes} but {len(params.scenes)} scenes were given.")
    scene_count = len(params.scenes) or params.n_scenes or 3
    for name in ("scene_seconds", "caption_texts"):
        values = getattr(params, name)
        if values and len(values) != scene_count:
            raise InvalidInputError(f"{name} has {len(values)} entries for {scene_count} scenes: give one per scene.")
    if not all(isinstance(text, str) for text in params.caption_texts):
        raise InvalidInputError('caption_texts must be text, one entry per scene ("" for no caption).')
    if params.scene_seconds:
        if not all(isinstance(t, int | float) and not isinstance(t, bool) and t > 0 for t in params.scene_seconds):
            raise InvalidInputError(f"scene_seconds must be positive numbers, not {list(params.scene_seconds)}.")
        params = replace(params, duration=float(sum(params.scene_seconds)))
    if isinstance(params.duration, bool) or not isinstance(params.duration, int | float):
        raise InvalidInputError(f"duration must be a number of seconds, not {params.duration!r}.")
    if not 0 < params.duration <= MAX_DURATION:
        raise InvalidInputError(
            f"duration must be more than 0 and at most {MAX_DURATION:g} seconds, not {params.duration}."
        )
    _check_int("fps", params.fps, 1, MAX_FPS)
    for name in ("width", "height"):
        value = getattr(params, name)
        _check_int(name, value, MIN_SIZE, MAX_SIZE)
        if value % 8:
            raise InvalidInputError(
                f"{name} must be a multiple of 8 (even for H.264 yuv420p, and what diffusion models need), not {value}."
            )
    _check_int("steps", params.steps, 1, image.MAX_STEPS)
    _check_int("density", params.density, 0, MAX_DENSITY)
    if not isinstance(params.guidance, int | float) or not 0 <= params.guidance <= 30:
        raise InvalidInputError(f"guidance must be a number from 0 to 30, not {params.guidance!r}.")
    if not isinstance(params.transition, int | float) or params.transition < 0:
        raise InvalidInputError(f"transition must be a number of seconds >= 0, not {params.transition!r}.")
    if round(params.duration * params.fps) < len(params.scenes or [0] * (params.n_scenes or 1)):
        raise InvalidInputError(
            f"{params.duration} s at {params.fps} fps is fewer frames than scenes: give every scene one frame at least."
        )
    if params.audio is not None:
        compose.check_audio(params.audio)
    _check_int("seed", params.seed, 0, MAX_SEED, optional=True)
    return replace(params, seed=random.randrange(MAX_SEED) if params.seed is None else params.seed)


def _check_int(name: str, value: Any, low: int, high: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be a whole number from {low} to {high}, not {value!r}.")


class _Stages:
    """Emits the stage events: a Log as a stage starts, per-stage and overall Progress, and the ETA as a Metric."""

    def __init__(self, plan: dict[str, tuple[int, float]], cancel: threading.Event, on_event: EventCallback | None):
        self.plan = plan  # stage -> (items, work units per item)
        self.total = sum(items * units for items, units in plan.values())
        self.done, self.updates = 0.0, 0
        self.seconds: dict[str, float] = {}
        self.cancel, self.on_event = cancel, on_event
        self.start_time = time.perf_counter()
        self._stage, self._stage_start, self._completed = "", 0.0, 0

    def start(self, stage: str, message: str) -> None:
        self.check()
        self._finish()
        self._stage, self._stage_start, self._completed = stage, time.perf_counter(), 0
        emit(self.on_event, Log("video", f"{stage}: {message}"))
        emit(self.on_event, Progress("video", 0, self.plan[stage][0], unit=_UNITS[stage], stage=stage))

    def advance(self, items: int = 1) -> None:
        """`items` more of the current stage are done; raises CancelledError when cancel is set."""
        count, units = self.plan[self._stage]
        self._completed += items
        self.done += items * units
        self.updates += 1
        emit(self.on_event, Progress("video", self._completed, count, unit=_UNITS[self._stage], stage=self._stage))
        emit(self.on_event, Progress("video", round(self.done, 2), round(self.total, 2), unit="work"))
        elapsed = time.perf_counter() - self.start_time
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        emit(self.on_event, Metric("video", self.updates, {"elapsed_s": elapsed, "eta_s": max(0.0, eta)}))
        self.check()

    def check(self) -> None:
        if self.cancel.is_set():
            raise CancelledError(f"Video generation cancelled during the {self.stage} stage.")

    @property
    def stage(self) -> str:
        return self._stage or "first"

    def finish(self) -> dict[str, float]:
        self._finish()
        return self.seconds

    def _finish(self) -> None:
        if self._stage:
            self.seconds[self._stage] = time.perf_counter() - self._stage_start


_UNITS = {"script": "scene", "keyframes": "scene", "motion": "picture", "sample": "step", "encode": "frame"}


# ----------------------------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    return get_settings().outputs_dir / ".cache" / "video"


def _cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _cached(key: str, use: bool) -> np.ndarray | None:
    path = cache_dir() / f"{key}.npy"
    return np.load(path) if use and path.is_file() else None


def _store(key: str, pictures: np.ndarray) -> None:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{key}.partial.npy"
    np.save(partial, pictures)
    os.replace(partial, folder / f"{key}.npy")


# ---------------------------------------------------------------------------------------------- stages


def write_scenes(
    idea: str, count: int, *, text_model: str | runtime.LoadedModel, seed: int, cancel: threading.Event | None = None
) -> tuple[list[str], manifests.Manifest]:
    """`count` scene prompts for a video about `idea`, written by `text_model`, and the text manifest.

    Each scene is the idea followed by the first line the model wrote for it (the idea alone if it wrote none).
    """
    from creator_kit import text

    result = text.generate(
        f"A short video in {count} scenes about {idea}. Describe one scene in one sentence:\n",
        model=text_model,
        max_new_tokens=32,
        num_return_sequences=count,
        seed=seed,
        cancel=cancel,
    )
    scenes = []
    for written in result.texts:
        line = next((part.strip(" -*.0123456789") for part in written.splitlines() if part.strip()), "")
        scenes.append(f"{idea.strip()}, {line[:160]}" if line else idea.strip())
    return scenes, result.manifest


def _noise(pipeline: Any, seed: int, params: VideoParams) -> torch.Tensor:
    """The initial latents image.generate draws for `seed` (the diffusers SD pipeline's own draw)."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    scale = pipeline.vae_scale_factor
    shape = (1, pipeline.unet.config.in_channels, params.height // scale, params.width // scale)
    generator = [torch.Generator("cpu").manual_seed(seed)]
    return randn_tensor(shape, generator=generator, device=pipeline.device, dtype=pipeline.unet.dtype)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between tensors `a` and `b` (linear where they are nearly parallel)."""
    import torch

    flat_a, flat_b = a.flatten().float(), b.flatten().float()
    cos = torch.dot(flat_a, flat_b) / (flat_a.norm() * flat_b.norm())
    if cos.abs() > 0.9995:
        return torch.lerp(a.float(), b.float(), t).to(a.dtype)
    theta = torch.arccos(cos.clamp(-1, 1))
    mixed = (torch.sin((1 - t) * theta) * a.float() + torch.sin(t * theta) * b.float()) / torch.sin(theta)
    return mixed.to(a.dtype)


def render_inbetweens(
    loaded: runtime.LoadedModel,
    first: tuple[str, int],
    second: tuple[str, int],
    params: VideoParams,
    cancel: threading.Event,
) -> np.ndarray:
    """`params.density` pictures between two keyframes (prompt, seed): slerped initial noise and prompt embeddings."""
    import torch

    pipeline = loaded.model
    image.use_scheduler(loaded, None)  # the model's own, as the keyframes used
    guided = params.guidance > 1
    negative = params.negative_prompt or None
    embeds = [pipeline.encode_prompt(prompt, pipeline.device, 1, guided, negative) for prompt, _ in (first, second)]
    noises = [_noise(pipeline, seed, params) for _, seed in (first, second)]

    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if cancel.is_set():
            raise CancelledError("Video generation cancelled.")
        return tensors

    pictures = []
    for k in range(1, params.density + 1):
        t = k / (params.density + 1)
        with torch.inference_mode():
            picture = pipeline(
                prompt_embeds=slerp(embeds[0][0], embeds[1][0], t),
                negative_prompt_embeds=slerp(embeds[0][1], embeds[1][1], t) if guided else None,
                latents=slerp(noises[0], noises[1], t),
                width=params.width,
                height=params.height,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance,
                output_type="np",
                callback_on_step_end=on_step_end,
            ).images[0]
        pictures.append((picture * 255).round().astype(np.uint8))
    return np.stack(pictures) if pictures else np.zeros((0, params.height, params.width, 3), np.uint8)


def _storyboard(
    loaded: runtime.LoadedModel,
    params: VideoParams,
    seeds: list[int],
    stages: _Stages,
    cache: bool,
    on_event: EventCallback | None,
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, list[int]]]:
    """Keyframes and in-betweens, from the cache where their key matches; returns them and what was rendered."""
    identity = [loaded.repo_id, loaded.commit, params.negative_prompt, params.width, params.height, params.steps]
    identity.append(params.guidance)
    rendered: dict[str, list[int]] = {"keyframes": [], "motion": []}
    stages.start("keyframes", f"{len(params.scenes)} scenes at {params.width}x{params.height}, {params.steps} steps")
    keyframes, keys = [], []
    for index, (scene, seed) in enumerate(zip(params.scenes, seeds, strict=True)):
        key = _cache_key("keyframe", *identity, scene, seed)
        picture = _cached(key, cache)
        if picture is None:
            rendered["keyframes"].append(index)
            result = image.generate(
                scene,
                model=loaded,
                previews=False,
                cancel=stages.cancel,
                **{name: getattr(params, name) for name in ("negative_prompt", "width", "height", "steps", "guidance")},
                seed=seed,
            )
            picture = np.asarray(result.image)
            _store(key, picture)
        keyframes.append(picture)
        keys.append(key)
        emit(on_event, Preview("video", index + 1, compose.to_image(picture)))
        stages.advance()
    stages.start("motion", f"{params.density} in-between pictures for each of {len(keys) - 1} transitions")
    inbetweens = []
    for index in range(len(keys) - 1):
        key = _cache_key("motion", *identity, keys[index], keys[index + 1], params.density)
        pictures = _cached(key, cache)
        if pictures is None:
            rendered["motion"].append(index)
            pair = (params.scenes[index], seeds[index]), (params.scenes[index + 1], seeds[index + 1])
            pictures = render_inbetweens(loaded, *pair, params, stages.cancel)
            _store(key, pictures)
        inbetweens.append(list(pictures))
        stages.advance(max(1, params.density))
    return keyframes, inbetweens, rendered


def _native(loaded: runtime.LoadedModel, params: VideoParams, stages: _Stages, on_event: EventCallback | None) -> list:
    """Frames from a text-to-video pipeline, with step progress and a preview of the middle frame's latents."""
    import torch

    pipeline = loaded.model
    count = round(params.duration * params.fps)
    latent_rgb = torch.tensor(image.SD_LATENT_RGB, dtype=torch.float32, device=pipeline.device)
    size = image.ImageParams("", width=params.width, height=params.height)
    stages.start("sample", f"{count} frames at {params.width}x{params.height}, {params.steps} steps")

    def on_step(step: int, latents: torch.Tensor) -> None:
        stages.advance()
        if on_event is not None and latents.ndim == 5 and latents.shape[1] == len(image.SD_LATENT_RGB):
            emit(
                on_event,
                Preview("video", step + 1, image.latents_to_preview(latents[0, :, count // 2], latent_rgb, size)),
            )

    if "callback_on_step_end" in inspect.signature(pipeline.__call__).parameters:
        callback = {"callback_on_step_end": lambda pipe, step, t, tensors: on_step(step, tensors["latents"]) or tensors}
    else:
        callback = {"callback": lambda step, t, latents: on_step(step, latents)}
    with torch.inference_mode():
        video = pipeline(
            prompt=params.scenes[0],
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
    return list((np.asarray(video) * 255).round().astype(np.uint8))


# ------------------------------------------------------------------------------------------------ public


def generate(
    prompt: str = "",
    *,
    model: str | runtime.LoadedModel,
    text_model: str | runtime.LoadedModel | None = None,
    out: str | Path | None = None,
    cache: bool = True,
    device: str | None = None,
    cancel: threading.Event | None = None,
    on_event: EventCallback | None = None,
    **params: Any,
) -> VideoResult:
    """A video of `prompt` (the idea) by `model`: a text-to-video model (native) or text-to-image (storyboard).

    `params` are VideoParams fields (scenes, n_scenes, quality, duration, fps, width, height, steps, ...).
    `out`: the .mp4 to write (default: a new file in the outputs folder). `cache=False` renders everything again.
    """
    unknown = sorted(set(params) - set(VideoParams.__dataclass_fields__) - {"idea"})
    if unknown:
        known = ", ".join(name for name in VideoParams.__dataclass_fields__ if name != "idea")
        raise InvalidInputError(f"Unknown video parameter(s) {', '.join(unknown)}. Known: {known}.")
    for name in ("scenes", "scene_seconds", "caption_texts"):
        params[name] = tuple(params.get(name) or ())
    checked = check_params(VideoParams(idea=prompt or "", **params))
    path = _output_path(out)
    task = model.task if isinstance(model, runtime.LoadedModel) else ModelStore().get(model).task
    if task not in (TASK, image.TASK):
        raise WrongTaskError(f"{_name(model)} is a {task} model; a video needs a text-to-video or text-to-image model.")
    native = task == TASK
    if native and text_model is not None:
        raise InvalidInputError("A text-to-video model renders the prompt itself: leave text_model out.")
    if native and (len(checked.scenes) > 1 or checked.n_scenes not in (None, 1)):
        raise InvalidInputError(
            "A text-to-video model renders one prompt; for several scenes use a text-to-image model."
        )
    stages = _Stages(_plan(checked, native, text_model), cancel or threading.Event(), on_event)
    try:
        return _make(checked, model, text_model, native, path, stages, cache, device, on_event)
    except CancelledError as exc:
        raise CancelledError(f"Video generation cancelled during the {stages.stage} stage.") from exc


def _plan(params: VideoParams, native: bool, text_model: Any) -> dict[str, tuple[int, float]]:
    """The stages of a run: how many items each has and their estimated cost in work units."""
    scene_count = len(params.scenes) or params.n_scenes or (1 if native else 3)
    plan = {"encode": (round(params.duration * params.fps), FRAME_UNITS)}
    if native:
        plan["sample"] = (params.steps, round(params.duration * params.fps) / 16)
        return plan
    if not params.scenes and text_model is not None:
        plan["script"] = (1, SCRIPT_UNITS * scene_count)
    plan["keyframes"] = (scene_count, params.steps)
    plan["motion"] = (max(0, scene_count - 1) * max(1, params.density), params.steps)
    return plan


def _make(
    checked: VideoParams,
    model: str | runtime.LoadedModel,
    text_model: str | runtime.LoadedModel | None,
    native: bool,
    path: Path,
    stages: _Stages,
    cache: bool,
    device: str | None,
    on_event: EventCallback | None,
) -> VideoResult:
    extra: dict[str, Any] = {"mode": "native" if native else "storyboard", "text_model": None, "text_revision": None}
    scene_count = stages.plan.get("keyframes", (1, 0))[0]
    if "script" in stages.plan:
        stages.start("script", f"writing {scene_count} scenes with {_name(text_model)}")
        scenes, script = write_scenes(
            checked.idea, scene_count, text_model=text_model, seed=checked.seed, cancel=stages.cancel
        )
        extra.update(text_model=script.model, text_revision=script.revision)
        stages.advance()
    else:
        scenes = list(checked.scenes) or [checked.idea.strip()] * scene_count
    checked = replace(checked, scenes=tuple(scenes))
    seeds = [checked.seed + i for i in range(len(scenes))]
    durations = list(checked.scene_seconds) or [checked.duration / len(scenes)] * len(scenes)
    line = compose.timeline(durations, checked.fps, checked.transition)
    if native:
        loaded = (
            model if isinstance(model, runtime.LoadedModel) else load_model(model, device=device, on_event=on_event)
        )
        frames = _native(loaded, checked, stages, on_event)
        keyframes, labels = [frames[0], frames[len(frames) // 2], frames[-1]], ["first", "middle", "last"]
        rendered: dict[str, list[int]] = {"keyframes": [], "motion": []}
        stream = iter(frames)
    else:
        loaded = image.loaded_model(model, device)
        keyframes, inbetweens, rendered = _storyboard(loaded, checked, seeds, stages, cache, on_event)
        labels = [f"{i + 1} · seed {seed}" for i, seed in enumerate(seeds)]
        stream = compose.storyboard_frames(keyframes, inbetweens, line, (checked.width, checked.height))
    if checked.captions or checked.caption_texts:
        stream = compose.with_captions(stream, list(checked.caption_texts) or scenes, line)
    stages.start("encode", f"{line.frames} frames, {checked.duration:g} s at {checked.fps} fps, H.264 -> {path.name}")
    frames = []
    partial = path.with_name(f".{path.stem}.partial.mp4")
    try:
        digest = _encode(partial, stream, checked, stages, frames.append)
        extra.update(seeds=seeds, frames=len(frames), frames_sha256=digest, device=loaded.device)
        parameters = dict(checked.to_dict(), **extra)
        record = manifests.Manifest("video", loaded.repo_id, loaded.commit, parameters, checked.seed)
        pictures = [compose.to_image(picture) for picture in keyframes]
        sheet_path = path.with_name(f"{path.stem}-keyframes.png")
        image.contact_sheet(pictures, labels, columns=min(4, len(pictures))).save(sheet_path)
        gif_path = path.with_suffix(".gif") if checked.gif else None
        if gif_path is not None:
            compose.save_gif(frames, gif_path, checked.fps)
        _atomic_write_text(manifests.sidecar(path), record.to_json())
        os.replace(partial, path)  # last: the MP4 appears complete, its manifest already beside it
    finally:
        partial.unlink(missing_ok=True)
    seconds = stages.finish()
    elapsed = time.perf_counter() - stages.start_time
    result = VideoResult(path, frames, pictures, scenes, record, elapsed, seconds, rendered, sheet_path, gif_path)
    emit(on_event, Done("video", result))
    return result


def replay(source: manifests.Manifest | str | Path, *, out: str | Path | None = None, **overrides: Any) -> VideoResult:
    """Render a video manifest (or the MP4 beside its sidecar) again from scratch (no cache), optionally changed."""
    record = source if isinstance(source, manifests.Manifest) else manifests.read(source)
    if record.kind != "video":
        raise InvalidInputError(f"This is a {record.kind} manifest; video.replay runs video manifests only.")
    settings = {name: record.parameters[name] for name in VideoParams.__dataclass_fields__}
    settings.update(model=record.model, device=record.parameters.get("device"), cache=False, out=out, **overrides)
    return generate(settings.pop("idea"), **settings)


def _encode(
    partial: Path, stream: Any, params: VideoParams, stages: _Stages, keep: Callable[[np.ndarray], None]
) -> str:
    """Encode to `partial`, a hidden file that the caller renames into place once everything else is written."""

    def on_frame(index: int, frame: np.ndarray) -> None:
        keep(frame)
        stages.advance()

    return compose.encode_mp4(
        stream,
        partial,
        size=(params.width, params.height),
        fps=params.fps,
        audio=params.audio,
        frame_count=round(params.duration * params.fps),
        on_frame=on_frame,
    )


def _atomic_write_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _output_path(out: str | Path | None) -> Path:
    if out is None:
        return manifests.output_path("video", "mp4")
    path = Path(out)
    if path.suffix.lower() != ".mp4":
        raise InvalidInputError(f"The output must be an .mp4 file, not {str(out)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _name(model: str | runtime.LoadedModel | None) -> str:
    return model.repo_id if isinstance(model, runtime.LoadedModel) else str(model)
