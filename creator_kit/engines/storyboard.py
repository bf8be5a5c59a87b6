"""The storyboard pipeline: a video from any text-to-image model, scene by scene.

    footage = storyboard.make(params, model="segmind/tiny-sd", stages=stages)   # as video.generate calls it

`make` reads as the algorithm, in three stages that the events name (a size whose sampling would not fit in
memory is refused before the first, `image.check_fits`):

1. ``script``: a text model (`text_model`) writes the scene prompts from the idea; or the caller gives
   `scenes`; or the idea is used for every scene, each with its own seed.
2. ``keyframes``: one picture per scene from `image.generate`, scene i with seed ``seed + i``.
3. ``motion``: between neighbouring scenes, `density` in-between pictures rendered from a slerp of the two
   keyframes' initial noise and prompt embeddings; the cut crossfades through them, and a Ken Burns camera
   moves over every frame (`frames.storyboard_frames`).

Every picture is decoded by one decoder (`companions.choose`; a draft: a tiny autoencoder where one fits the
model). `video.generate` then captions and encodes the frames (its ``encode`` stage). Keyframes and in-betweens are
cached under ``outputs/.cache/video`` by a hash of everything that decides their pixels, so editing one scene
re-renders only that scene's keyframe and the transitions touching it. `read_file` reads a storyboard file.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from creator_kit.core import files, readers
from creator_kit.core.config import get_settings
from creator_kit.core.errors import CancelledError, InvalidInputError
from creator_kit.core.events import Preview, Stages, emit
from creator_kit.engines import companions, frames, image, runtime
from creator_kit.engines import manifest as manifests
from creator_kit.engines.video_params import VideoParams

if TYPE_CHECKING:
    import torch


MAX_SCENES, DEFAULT_SCENES = 24, 3
MAX_STORYBOARD_BYTES = 1024**2  # 24 scenes of 20,000-character prompts and captions fit
SCRIPT_WORK = 10.0  # estimated cost, in sampling steps, of writing one scene prompt
#: The VideoParams that image.generate takes for a keyframe (with the model, they decide its pixels).
IMAGE_FIELDS = ("negative_prompt", "width", "height", "steps", "guidance", "decoder")

Shot = tuple[str, int]  # a scene's prompt and seed


def scene_count(params: VideoParams) -> int:
    """How many scenes `params` make: the scenes given, else `n_scenes`, else DEFAULT_SCENES."""
    return len(params.scenes) or params.n_scenes or DEFAULT_SCENES


def plan(params: VideoParams, text_model: str | runtime.LoadedModel | None) -> dict[str, tuple[int, str, float]]:
    """The storyboard's stages for `params` (checked): items, unit and work per item, in sampling steps."""
    count = scene_count(params)
    stages = {}
    if not params.scenes and text_model is not None:
        stages["script"] = (1, "scene", SCRIPT_WORK * count)
    stages["keyframes"] = (count, "scene", params.steps)
    stages["motion"] = (max(0, count - 1) * max(1, params.density), "picture", params.steps)
    return stages


def make(
    params: VideoParams,
    *,
    model: str | image.ImageModel,
    text_model: str | runtime.LoadedModel | None = None,
    stages: Stages,
    cache: bool = True,
    device: str | None = None,
    dtype: str | None = None,
) -> frames.Footage:
    """The storyboard of `params` (checked VideoParams) by the text-to-image `model`: script, keyframes, motion.

    `stages` runs this module's `plan` (the caller adds its encode stage); `cache=False` renders every picture
    again. The frames are composed lazily, as the writer encodes them.
    """
    loaded = image.loaded_model(model, device, dtype)
    image.check_fits(loaded, params.width, params.height, images=1, guidance=params.guidance)
    companion = companions.choose(params.decoder, loaded.model)  # one for every picture (draft: a tiny one if any)
    scenes, notes = write_script(params, text_model, stages)
    params = replace(params, scenes=tuple(scenes), decoder=companion.repo_id if companion else "full")
    shots = [(scene, params.seed + i) for i, scene in enumerate(scenes)]
    keyframes, keys, drawn = draw_keyframes(loaded, params, shots, stages, cache)
    inbetweens, moved = render_motion(loaded, params, shots, keys, stages, cache)
    line = params.timeline(len(scenes))
    return frames.Footage(
        model=loaded,
        scenes=scenes,
        seeds=[seed for _, seed in shots],
        frames=frames.storyboard_frames(keyframes, inbetweens, line, (params.width, params.height)),
        keyframes=keyframes,
        labels=[f"{i + 1} · seed {seed}" for i, (_, seed) in enumerate(shots)],
        rendered={"keyframes": drawn, "motion": moved},
        notes=dict(notes, **companions.record(companion)),
    )


# ---------------------------------------------------------------------------------------------- stages


def write_script(
    params: VideoParams, text_model: str | runtime.LoadedModel | None, stages: Stages
) -> tuple[list[str], dict[str, Any]]:
    """1. The scene prompts (given, written by `text_model`, or the idea for every scene) and their manifest notes."""
    notes: dict[str, Any] = {"mode": "storyboard", "text_model": None, "text_revision": None}
    count = scene_count(params)
    if params.scenes:
        return list(params.scenes), notes
    if text_model is None:
        return [params.idea.strip()] * count, notes
    stages.start("script", f"writing {count} scenes with {getattr(text_model, 'repo_id', text_model)}")
    scenes, script = write_scenes(params.idea, count, text_model=text_model, seed=params.seed, cancel=stages.cancel)
    stages.advance()
    return scenes, dict(notes, text_model=script.model, text_revision=script.revision)


def draw_keyframes(
    loaded: image.ImageModel, params: VideoParams, shots: list[Shot], stages: Stages, cache: bool
) -> tuple[list[np.ndarray], list[str], list[int]]:
    """2. One picture per shot, from the cache where its key matches: the pictures, their keys, the ones rendered."""
    stages.start("keyframes", f"{len(shots)} scenes at {params.width}x{params.height}, {params.steps} steps")
    pictures, keys, rendered = [], [], []
    for index, (scene, seed) in enumerate(shots):
        key = _cache_key("keyframe", *_identity(loaded, params), scene, seed)
        render = partial(_keyframe, loaded, params, (scene, seed), stages.cancel)
        picture, fresh = _cached(key, cache, render)
        if fresh:
            rendered.append(index)
        pictures.append(picture)
        keys.append(key)
        emit(stages.on_event, Preview(stages.operation, index + 1, frames.to_image(picture)))
        stages.advance()
    return pictures, keys, rendered


def render_motion(
    loaded: image.ImageModel, params: VideoParams, shots: list[Shot], keys: list[str], stages: Stages, cache: bool
) -> tuple[list[list[np.ndarray]], list[int]]:
    """3. The in-between pictures of each cut, from the cache where its key matches, and the cuts rendered."""
    stages.start("motion", f"{params.density} in-between pictures for each of {len(keys) - 1} transitions")
    inbetweens, rendered = [], []
    for index in range(len(keys) - 1):
        key = _cache_key("motion", *_identity(loaded, params), keys[index], keys[index + 1], params.density)
        render = partial(render_inbetweens, loaded, shots[index], shots[index + 1], params, stages.cancel)
        pictures, fresh = _cached(key, cache, render)
        if fresh:
            rendered.append(index)
        inbetweens.append(list(pictures))
        stages.advance(max(1, params.density))
    return inbetweens, rendered


# ------------------------------------------------------------------------------------------- rendering


def write_scenes(
    idea: str, count: int, *, text_model: str | runtime.LoadedModel, seed: int, cancel: threading.Event | None = None
) -> tuple[list[str], manifests.Manifest]:
    """`count` scene prompts for a video about `idea`, written by `text_model`, and the text manifest.

    Each scene is the idea followed by the first line the model wrote for it (the idea alone if it wrote none).
    """
    from creator_kit.engines import text  # torch and transformers load only when scenes are written

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


def _keyframe(loaded: image.ImageModel, params: VideoParams, shot: Shot, cancel: threading.Event) -> np.ndarray:
    """The picture of one shot, as `image.generate` renders it."""
    prompt, seed = shot
    settings = {name: getattr(params, name) for name in IMAGE_FIELDS}
    result = image.generate(prompt, model=loaded, previews=False, cancel=cancel, seed=seed, **settings)
    return np.asarray(result.image)


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
    loaded: image.ImageModel, first: Shot, second: Shot, params: VideoParams, cancel: threading.Event
) -> np.ndarray:
    """`params.density` pictures between two keyframes (prompt, seed): slerped initial noise and prompt embeddings."""
    import torch

    pipeline = loaded.model
    image.use_scheduler(loaded, None)  # the model's own, as the keyframes used
    guided = params.guidance > 1
    negative = params.negative_prompt or None
    embeds = [pipeline.encode_prompt(prompt, pipeline.device, 1, guided, negative) for prompt, _ in (first, second)]
    noises = [_noise(pipeline, seed, params) for _, seed in (first, second)]
    _, decoder = companions.decoder_for(params.decoder, loaded)

    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if cancel.is_set():
            raise CancelledError("Video generation cancelled.")
        return tensors

    pictures = []
    for k in range(1, params.density + 1):
        t = k / (params.density + 1)
        with torch.inference_mode(), companions.decoding(pipeline, decoder):
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


# ----------------------------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """Where keyframes and in-betweens are kept between runs."""
    return get_settings().outputs_dir / ".cache" / "video"


def _identity(loaded: image.ImageModel, params: VideoParams) -> list[Any]:
    """Besides a shot's prompt and seed, what decides its pixels: the model's exact revision and the image settings."""
    return [loaded.repo_id, loaded.commit, *(getattr(params, name) for name in IMAGE_FIELDS)]


def _cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _cached(key: str, use: bool, render: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """The pictures cached under `key` (when `use`), else `render()`'s, stored under `key`; and whether rendered."""
    path = cache_dir() / f"{key}.npy"
    if use and path.is_file():
        return np.load(path), False
    pictures = render()
    with files.atomic_path(path) as partial_path:
        np.save(partial_path, pictures)
    return pictures, True


# ------------------------------------------------------------------------------------------------ file


@dataclass(frozen=True)
class Story:
    """A storyboard as a file gives it: the idea, the scene prompts, and per scene its seconds and caption."""

    idea: str = ""
    scenes: tuple[str, ...] = ()
    scene_seconds: tuple[float, ...] = ()  # one per scene, or none: equal shares of the duration
    caption_texts: tuple[str, ...] = ()  # one per scene ("" for none), or none


def read_file(path: str | Path) -> Story:
    """A storyboard file: a JSON list of scenes, or an object with "scenes" (and optionally "idea").

    A scene is a prompt, or ``{"prompt": ..., "seconds": ..., "caption": ...}``: seconds given for every scene or
    none; a scene without a caption has none. At most MAX_SCENES scenes; the idea, prompts and captions hold at
    most validate.MAX_PROMPT_CHARS characters each (checked with the rest when the video is made).
    """
    data = readers.read_json(path, what="storyboard", limit=MAX_STORYBOARD_BYTES)
    if isinstance(data, list):
        data = {"scenes": data}
    usage = f'{path}: expected a list of scenes, or {{"scenes": [...], "idea": "..."}}; a scene is a prompt or '
    usage += '{"prompt": ..., "seconds": ..., "caption": ...}.'
    if not isinstance(data, dict) or not isinstance(data.get("scenes"), list) or set(data) - {"scenes", "idea"}:
        raise InvalidInputError(usage)
    if len(data["scenes"]) > MAX_SCENES:
        raise InvalidInputError(f"{path} has {len(data['scenes'])} scenes; a storyboard holds at most {MAX_SCENES}.")
    scenes = [scene if isinstance(scene, dict) else {"prompt": scene} for scene in data["scenes"]]
    if any(set(scene) - {"prompt", "seconds", "caption"} or "prompt" not in scene for scene in scenes):
        raise InvalidInputError(usage)
    return Story(
        idea=data.get("idea", ""),
        scenes=tuple(scene["prompt"] for scene in scenes),
        scene_seconds=tuple(scene.get("seconds") for scene in scenes) if any("seconds" in s for s in scenes) else (),
        caption_texts=tuple(scene.get("caption", "") for scene in scenes)
        if any("caption" in s for s in scenes)
        else (),
    )
