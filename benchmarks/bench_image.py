"""Text-to-image: `image.generate` (previews on and off) against the raw diffusers pipeline call, same run.

A Stable Diffusion pipeline with random weights, large enough that one step takes well over 50 ms on
CPU, is built locally and registered in a scratch store. Each method renders the same prompt, size,
steps and seed; the order alternates and the median of the repeats is compared. Also measured: the
CPU-friendly switches (attention slicing, channels_last) that image.py deliberately leaves off.

    .venv/bin/python benchmarks/bench_image.py [--repeats 5] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from results_file import write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from tiny_models import SDShape, build_stable_diffusion  # noqa: E402

SECTION = "## Text-to-image"
PROMPT = "a lighthouse on a cliff at dawn, oil painting"
SIZE, STEPS, SEED = 192, 8, 7


#: An SD-1.5-shaped pipeline scaled down (3 UNet blocks up to 256 channels) so a step takes ~100+ ms on CPU.
BENCH_SHAPE = SDShape(
    unet_channels=(64, 128, 256),
    vae_channels=(32, 64, 64, 64),
    text_width=128,
    text_layers=4,
    sample_size=SIZE // 8,
    max_length=77,
    groups=16,
)


def time_call(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())

    from creator_kit import image
    from creator_kit.core.config import configure
    from creator_kit.core.events import Preview
    from creator_kit.library.store import ModelStore

    with tempfile.TemporaryDirectory(prefix="bench-image-") as scratch:
        scratch = Path(scratch)
        configure(models_dir=scratch / "models")
        ModelStore().register_local(
            "bench-sd", build_stable_diffusion(scratch / "sd", BENCH_SHAPE), task="text-to-image"
        )
        loaded = image.load_model("local/bench-sd")
        pipeline = loaded.model
        params = {"width": SIZE, "height": SIZE, "steps": STEPS, "seed": SEED, "guidance": 7.5}
        previews: list[float] = []

        def on_event(event) -> None:
            if isinstance(event, Preview):
                previews.append(time.perf_counter())

        def raw() -> None:
            pipeline(
                prompt=[PROMPT],
                width=SIZE,
                height=SIZE,
                num_inference_steps=STEPS,
                guidance_scale=7.5,
                generator=[torch.Generator("cpu").manual_seed(SEED)],
            )

        methods = {
            "raw pipeline call": raw,
            "image.generate, previews on": lambda: image.generate(PROMPT, model=loaded, on_event=on_event, **params),
            "image.generate, previews off": lambda: image.generate(PROMPT, model=loaded, previews=False, **params),
        }
        raw()  # warm-up: first-call allocations and lazy imports
        times: dict[str, list[float]] = {name: [] for name in methods}
        for repeat in range(args.repeats):
            order = list(methods) if repeat % 2 == 0 else list(reversed(methods))
            for name in order:
                times[name].append(time_call(methods[name]))

        latents = torch.randn(4, SIZE // 8, SIZE // 8)
        rgb = image._latent_rgb(pipeline)
        checked = image.check_params(image.ImageParams(PROMPT, width=SIZE, height=SIZE))
        preview_ms = (
            statistics.median(time_call(lambda: image.latents_to_preview(latents, rgb, checked)) for _ in range(50))
            * 1000
        )

        switches = {}
        pipeline.enable_attention_slicing()
        switches["attention slicing"] = statistics.median(time_call(raw) for _ in range(3))
        pipeline.disable_attention_slicing()
        pipeline.unet.to(memory_format=torch.channels_last)
        switches["UNet channels_last"] = statistics.median(time_call(raw) for _ in range(3))
        pipeline.unet.to(memory_format=torch.contiguous_format)
        baseline = statistics.median(times["raw pipeline call"])

    medians = {name: statistics.median(values) for name, values in times.items()}
    step_ms = baseline / STEPS * 1000
    lines = [
        SECTION,
        "",
        f"Run {date.today()} with `.venv/bin/python benchmarks/bench_image.py --repeats {args.repeats}`: 2 CPU cores, "
        f"torch {torch.__version__}, random-weight SD-shaped pipeline (UNet 64/128/256 channels), {SIZE}x{SIZE}, "
        f"{STEPS} DDIM steps, guidance 7.5; median of {args.repeats}, alternating order.",
        "",
        "| method | median s | min s | max s | raw / method |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        lines.append(
            f"| {name} | {medians[name]:.3f} | {min(values):.3f} | {max(values):.3f} | "
            f"{medians['raw pipeline call'] / medians[name]:.3f} |"
        )
    lines += [
        "",
        f"One step of the raw pipeline: {step_ms:.0f} ms. One preview (latent->RGB projection + resize to "
        f"{SIZE}x{SIZE}): {preview_ms:.2f} ms, i.e. {preview_ms / step_ms:.1%} of a step.",
        "",
        "CPU switches, raw pipeline median of 3 against the plain call "
        f"({baseline:.3f} s): "
        + ", ".join(f"{name} {value:.3f} s ({baseline / value:.2f}x)" for name, value in switches.items())
        + ". Kept off unless they win here.",
        "",
        "Targets: raw / previews on >= 0.95, raw / previews off >= 0.99.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
