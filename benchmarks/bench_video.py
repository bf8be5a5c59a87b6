"""Video: the engine's MP4 encode against raw `imageio_ffmpeg.write_frames`, and a storyboard run split by stage.

1. Encode: the same N frames (numpy arrays) through `frames.encode_mp4` (what `video.generate` uses:
   H.264, yuv420p, frame hashing for the manifest) and through `imageio_ffmpeg.write_frames` with the
   same codec settings; moviepy's `ImageSequenceClip.write_videofile` is timed too, for reference.
   Alternating order, median of the repeats; target: raw / engine >= 0.8.
2. Storyboard: a 3-scene video from the tiny random-weight SD pipeline, wall time per stage.

    .venv/bin/python benchmarks/bench_video.py [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from results_file import write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from tiny_models import build_stable_diffusion  # noqa: E402

from creator_kit import configure, video  # noqa: E402
from creator_kit.engines.frames import encode_mp4  # noqa: E402
from creator_kit.library.store import ModelStore  # noqa: E402

SECTION = "## Video"
WIDTH, HEIGHT, FPS, FRAMES = 512, 288, 24, 240


def test_frames() -> list[np.ndarray]:
    """Moving gradients with noise: real work for the encoder, like a Ken Burns pan over a picture."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for i in range(FRAMES):
        red = (x + 3 * i) % 256
        green = (y + 2 * i) % 256
        blue = ((x + y) // 2 + i) % 256
        noise = rng.integers(0, 24, (HEIGHT, WIDTH, 1))
        frames.append(np.clip(np.dstack([red, green, blue]) + noise, 0, 255).astype(np.uint8))
    return frames


def raw_encode(frames: list[np.ndarray], path: Path) -> None:
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (WIDTH, HEIGHT),
        fps=FPS,
        codec="libx264",
        pix_fmt_out="yuv420p",
        quality=7,
        macro_block_size=2,
        output_params=["-movflags", "+faststart"],
    )
    writer.send(None)
    for frame in frames:
        writer.send(frame)
    writer.close()


def engine_encode(frames: list[np.ndarray], path: Path) -> None:
    encode_mp4(iter(frames), path, size=(WIDTH, HEIGHT), fps=FPS)


def moviepy_encode(frames: list[np.ndarray], path: Path) -> None:
    from moviepy import ImageSequenceClip

    ImageSequenceClip(frames, fps=FPS).write_videofile(str(path), codec="libx264", logger=None, audio=False)


def timed(method: Callable[[list[np.ndarray], Path], None], frames: list[np.ndarray], path: Path) -> float:
    start = time.perf_counter()
    method(frames, path)
    seconds = time.perf_counter() - start
    path.unlink()
    return seconds


def storyboard_stages(scratch: Path) -> dict[str, float]:
    configure(models_dir=scratch / "models", outputs_dir=scratch / "outputs")
    ModelStore().register_local("bench-sd", build_stable_diffusion(scratch / "sd"), task="text-to-image")
    result = video.generate(
        model="local/bench-sd",
        scenes=["a harbour at dawn", "boats leaving", "the open sea"],
        quality="draft",
        width=128,
        height=128,
        duration=3.0,
        fps=12,
        steps=6,
        density=2,
        captions=True,
        seed=1,
        cache=False,
        out=scratch / "story.mp4",
    )
    return dict(result.stage_seconds, total=result.elapsed_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    frames = test_frames()
    methods = {"raw imageio_ffmpeg.write_frames": raw_encode, "frames.encode_mp4 (engine)": engine_encode}
    with tempfile.TemporaryDirectory(prefix="bench-video-") as scratch:
        scratch = Path(scratch)
        times: dict[str, list[float]] = {name: [] for name in methods}
        for repeat in range(args.repeats):
            for name in list(methods) if repeat % 2 == 0 else list(reversed(methods)):
                times[name].append(timed(methods[name], frames, scratch / "out.mp4"))
        moviepy_s = timed(moviepy_encode, frames, scratch / "moviepy.mp4")
        stages = storyboard_stages(scratch)

    medians = {name: statistics.median(values) for name, values in times.items()}
    raw = medians["raw imageio_ffmpeg.write_frames"]
    lines = [
        SECTION,
        "",
        f"Run {date.today()} with `.venv/bin/python benchmarks/bench_video.py --repeats {args.repeats}`: 2 CPU cores, "
        f"imageio-ffmpeg {imageio_ffmpeg.__version__} (ffmpeg {imageio_ffmpeg.get_ffmpeg_version()}).",
        "",
        f"### Encode {FRAMES} frames of {WIDTH}x{HEIGHT} at {FPS} fps (H.264, yuv420p, median of {args.repeats})",
        "",
        "| method | median s | min s | max s | raw / method |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        lines.append(
            f"| {name} | {medians[name]:.3f} | {min(values):.3f} | {max(values):.3f} | {raw / medians[name]:.3f} |"
        )
    lines.append(
        f"| moviepy ImageSequenceClip.write_videofile (1 run, reference) | {moviepy_s:.3f} | | | "
        f"{raw / moviepy_s:.3f} |"
    )
    lines += [
        "",
        "Target: raw / engine >= 0.8. The engine also hashes every frame (sha256) for the manifest.",
        "",
        "### Storyboard, 3 scenes, 128x128, 3 s at 12 fps, 6 steps, 2 in-betweens per cut, captions (tiny SD)",
        "",
        "| stage | seconds |",
        "|---|---:|",
        *(f"| {stage} | {seconds:.2f} |" for stage, seconds in stages.items()),
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
