"""Frame compositing and encoding: Ken Burns camera moves, crossfades, captions, H.264 MP4 and GIF.

A video pipeline (`video`'s native sampling, the `storyboard`) hands its pictures over as `Footage`;
`video.generate` captions and encodes them with the functions here. The frame path stays lean: frames
are uint8 numpy arrays (height, width, 3), blended with numpy, and encoded by imageio-ffmpeg (H.264,
yuv420p) with an optional audio track muxed in by ffmpeg; moviepy only probes audio files
(`ffmpeg_parse_infos`), since compositing every frame with its CompositeVideoClip is several times slower.
Captions are lettered by `lettering`: wrapped, shrunk and at last shortened to stay inside the frame.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from creator_kit.core.errors import InvalidInputError
from creator_kit.engines import lettering

if TYPE_CHECKING:
    from PIL import Image

    from creator_kit.engines.runtime import LoadedModel

Frame = np.ndarray  # (height, width, 3) uint8
KEN_BURNS_ZOOM = 0.12  # a scene's camera moves between 100% and 112% zoom
CAPTION_MARGIN = 0.04  # of the frame height below a caption, and of its width on either side
CAPTION_HEIGHT = 0.3  # of the frame height: the most a caption covers


@dataclass
class Footage:
    """What a video pipeline hands to the writer: its frames, keyframes and labels, and where they came from."""

    model: LoadedModel  # the model that rendered the pictures
    scenes: list[str]  # the scene prompts, as given or written
    seeds: list[int]  # one per scene
    frames: Iterable[Frame]  # every frame of the video, before captions (may be produced while it is encoded)
    keyframes: list[Frame]  # the pictures for the contact sheet
    labels: list[str]  # one per keyframe
    rendered: dict[str, list[int]]  # scenes whose keyframe, and transitions whose in-betweens, were rendered now
    notes: dict[str, Any]  # the manifest parameters the pipeline adds (mode, text model)


@dataclass(frozen=True)
class Timeline:
    """Frame indices of each scene and of each crossfade between neighbouring scenes.

    Scene i covers frames ``bounds[i]:bounds[i + 1]``; the crossfade between scenes i and i+1 covers
    ``fades[i]``, centred on their boundary, so transitions never change the total length.
    """

    bounds: tuple[int, ...]
    fades: tuple[range, ...]

    @property
    def frames(self) -> int:
        return self.bounds[-1]

    def scene_of(self, frame: int) -> int:
        return int(np.searchsorted(self.bounds, frame, side="right")) - 1


def timeline(durations: Sequence[float], fps: int, transition: float) -> Timeline:
    """The timeline of scenes lasting `durations` seconds at `fps`: round(sum * fps) frames in all."""
    bounds = tuple(round(t * fps) for t in np.concatenate([[0.0], np.cumsum(durations)]))
    fades = []
    for i in range(1, len(bounds) - 1):
        half = round(transition * fps) // 2
        half = min(half, bounds[i] - bounds[i - 1] - 1, bounds[i + 1] - bounds[i] - 1)
        fades.append(range(bounds[i] - max(half, 0), bounds[i] + max(half, 0)))
    return Timeline(bounds, tuple(fades))


def ken_burns(picture: Frame, progress: float, scene: int, size: tuple[int, int]) -> Frame:
    """`picture` seen by a slowly zooming, panning camera at `progress` (0..1) through scene `scene`.

    Even scenes zoom in and pan right, odd scenes zoom out and pan left, so the camera is continuous
    across scene boundaries.
    """
    from PIL import Image

    u = progress if scene % 2 == 0 else 1.0 - progress
    zoom = 1.0 + KEN_BURNS_ZOOM * u
    height, width = picture.shape[:2]
    crop_w, crop_h = width / zoom, height / zoom
    left = (width - crop_w) * u
    top = (height - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR, box=box))


def blend(a: Frame, b: Frame, alpha: float) -> Frame:
    """`a` faded into `b` by `alpha` (0: all a, 1: all b)."""
    if alpha <= 0:
        return a
    return (a.astype(np.float32) * (1 - alpha) + b.astype(np.float32) * alpha).round().astype(np.uint8)


def morph(sequence: Sequence[Frame], position: float) -> Frame:
    """The picture at `position` (0..1) along `sequence`, crossfading between neighbours."""
    where = position * (len(sequence) - 1)
    index = min(int(where), len(sequence) - 2)
    return blend(sequence[index], sequence[index + 1], where - index)


def storyboard_frames(
    keyframes: Sequence[Frame], inbetweens: Sequence[Sequence[Frame]], line: Timeline, size: tuple[int, int]
) -> Iterator[Frame]:
    """Every frame of the storyboard: Ken Burns on each keyframe, crossfading through the in-betweens at cuts."""
    for frame in range(line.frames):
        scene = line.scene_of(frame)
        start, end = line.bounds[scene], line.bounds[scene + 1]
        picture = keyframes[scene]
        for i, fade in enumerate(line.fades):
            if frame in fade:
                sequence = [keyframes[i], *inbetweens[i], keyframes[i + 1]]
                picture = morph(sequence, (frame - fade.start + 0.5) / len(fade))
        yield ken_burns(picture, (frame - start) / max(1, end - start - 1), scene, size)


def caption_layer(text: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """`text` as a caption for frames of `size`: white DejaVu Sans with a dark outline, wrapped, shrunk and at
    last shortened (`lettering.fit`) to fit inside the frame's side margins and CAPTION_HEIGHT of its height.
    Returns (rgb, alpha 0..1) of the caption's block, as wide as the space between the margins."""
    from PIL import Image, ImageDraw

    width, height = size
    inner = width - 2 * max(1, round(width * CAPTION_MARGIN))
    largest = height // 12
    (caption,) = lettering.fit([text], inner, largest=largest, max_height=int(height * CAPTION_HEIGHT), outline=True)
    layer = Image.new("RGBA", (inner, caption.height), (0, 0, 0, 0))
    caption.draw(ImageDraw.Draw(layer), (0, 0, inner, caption.height), fill="white", outline="black")
    pixels = np.asarray(layer, dtype=np.float32)
    return pixels[..., :3], pixels[..., 3:] / 255.0


def with_captions(frames: Iterable[Frame], captions: Sequence[str], line: Timeline) -> Iterator[Frame]:
    """`frames` with caption i drawn at the bottom centre of scene i's frames."""
    layers: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for index, frame in enumerate(frames):
        scene = line.scene_of(index)
        if not captions[scene]:
            yield frame
            continue
        if scene not in layers:
            layers[scene] = caption_layer(captions[scene], (frame.shape[1], frame.shape[0]))
        rgb, alpha = layers[scene]
        h, w = rgb.shape[:2]
        top = frame.shape[0] - h - max(1, round(frame.shape[0] * CAPTION_MARGIN))
        left = (frame.shape[1] - w) // 2
        out = frame.copy()
        region = out[top : top + h, left : left + w].astype(np.float32)
        out[top : top + h, left : left + w] = (region * (1 - alpha) + rgb * alpha).round().astype(np.uint8)
        yield out


def check_audio(path: str | Path) -> None:
    """InvalidInputError, in one line, unless `path` is a file with an audio stream that ffmpeg can read.

    moviepy's probe runs ``ffmpeg -i`` with its output captured and opens no reader (which would complain when
    collected); of ffmpeg's report only its last line, the reason, reaches the message.
    """
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos

    if not Path(path).is_file():
        raise InvalidInputError(f"The audio file {path} does not exist.")
    try:
        infos = ffmpeg_parse_infos(str(path), check_duration=False)
    except (OSError, KeyError, ValueError, IndexError) as exc:
        why = next((line.strip() for line in reversed(str(exc).splitlines()) if line.strip()), type(exc).__name__)
        raise InvalidInputError(f"Cannot read {path} as audio (use a WAV, MP3, M4A or OGG file): {why}") from exc
    if not infos.get("audio_found"):
        raise InvalidInputError(f"{path} holds no audio (use a WAV, MP3, M4A or OGG file).")


def encode_mp4(
    frames: Iterable[Frame],
    path: Path,
    *,
    size: tuple[int, int],
    fps: int,
    audio: str | Path | None = None,
    frame_count: int | None = None,
    on_frame: Callable[[int, Frame], None] | None = None,
) -> str:
    """Encode `frames` to H.264 MP4 (yuv420p) at `path`; returns the sha256 of the raw frames.

    An audio track is cut to the video's length (`frame_count` / `fps`), or padded with silence when shorter.
    `on_frame(i, frame)` is called after each frame is handed to the encoder (progress, cancel).
    """
    import imageio_ffmpeg

    digest = hashlib.sha256()
    output = ["-movflags", "+faststart"]
    if audio is not None and frame_count is not None:
        output += ["-af", "apad", "-t", f"{frame_count / fps}"]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        size,
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        quality=7,
        macro_block_size=2,
        output_params=output,
        audio_path=str(audio) if audio is not None else None,
        audio_codec="aac" if audio is not None else None,
    )
    writer.send(None)
    try:
        for index, frame in enumerate(frames):
            digest.update(frame.tobytes())
            writer.send(np.ascontiguousarray(frame))
            if on_frame is not None:
                on_frame(index, frame)
    finally:
        writer.close()
    return digest.hexdigest()


def save_gif(frames: Sequence[Frame], path: Path, fps: int, max_fps: int = 12) -> None:
    """An animated GIF of `frames` (every n-th frame, so it plays at no more than `max_fps`)."""
    from PIL import Image

    step = max(1, round(fps / max_fps))
    pictures = [Image.fromarray(frame) for frame in frames[::step]]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=round(1000 * step / fps), loop=0)


def to_image(frame: Frame) -> Image.Image:
    """`frame` as a PIL image."""
    from PIL import Image

    return Image.fromarray(frame)
