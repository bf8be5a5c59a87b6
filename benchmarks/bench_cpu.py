"""Real-size CPU speed and peak memory: raw float32 diffusers / transformers against Creator Kit's default and fastest.

Three workloads, each with a real configuration and random weights, built locally and registered in a scratch store:

- ``sd15``: Stable Diffusion 1.5 (UNet 320/640/1280/1280, the 4-level VAE, a 12-layer CLIP-L text encoder),
  512x512, 4 DDIM steps with classifier-free guidance 7.5, end to end (text encoder, UNet, VAE decode);
- ``turbo``: SD-Turbo's shape (SD 2.1's UNet with linear projections and 1024-wide cross-attention, a 23-layer
  OpenCLIP-H-sized text encoder), 512x512, one Euler step (trailing spacing) without guidance;
- ``gpt2``: GPT-2 124M (12 layers, 768 wide, 50257-token vocabulary), greedy decoding of 64 tokens after a
  short prompt (repetition penalty 1.1, Creator Kit's "precise" preset).

Each method is a line of `METHODS`: a name and a function that loads the model (timed apart) and returns the call
to time, as its user would write it (raw library in float32, `image.generate` / `text.generate`). A faster path
(a tiny autoencoder decode, a converted variant) is one more line. Every run of a method happens in a fresh
Python process: its time is a first call, as ``creator-kit generate`` makes one, and its peak resident memory
(VmHWM) is its own, not what an earlier method left allocated in the same process (freed tensors stay
in the allocator's pools, so an in-process sampler would charge one method for another). The order of the
methods alternates between repeats; medians compared.

    .venv/bin/python benchmarks/bench_cpu.py [--repeats 2] [--only sd15 turbo gpt2] [--no-write]
    .venv/bin/python benchmarks/bench_cpu.py --quick --no-write   # tiny shapes, every code path, seconds
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import psutil
from results_file import write_section

SECTION = "## CPU speed at real size"
QUICK_NOTE = " (here --quick: tiny shapes instead of the configurations named, so the figures mean nothing)"
PROMPT = "a lighthouse on a cliff at dawn, oil painting"
TEXT_PROMPT = "The history of the small mountain village begins with a story that the oldest people still tell"
SEED, NEW_TOKENS = 7, 64
RESULT = "RESULT "  # the worker's result line on stdout
MEMORY_SLACK = 1.01  # peak memory within 1% of the baseline's counts as no higher (allocator noise)
DIFFUSERS_CLASSES = ("StableDiffusionPipeline", "AutoPipelineForText2Image", "UNet2DConditionModel", "AutoencoderKL")
TRANSFORMERS_CLASSES = ("AutoModelForCausalLM", "GPT2LMHeadModel", "CLIPTextModel", "AutoTokenizer")


@dataclass(frozen=True)
class Workload:
    """A model to build and what to run with it: picture settings (`image`) or decoding settings (`text`)."""

    name: str
    title: str
    task: str
    build: Callable[[Path, bool], None]  # (folder, quick) -> the model's files in folder
    settings: dict[str, Any]

    @property
    def repo_id(self) -> str:
        return f"local/bench-{self.name}"


# ---------------------------------------------------------------------------------------------- the models


def build_pipeline(folder: Path, unet: dict[str, Any], text: dict[str, Any], scheduler: Any) -> None:
    """A Stable-Diffusion-style pipeline: a UNet of config `unet`, SD's 4-level VAE, a CLIP text encoder of `text`."""
    import torch
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from creator_kit.starters.tiny import build_clip_tokenizer

    torch.manual_seed(0)
    build_clip_tokenizer(folder / "tokenizer", max_length=77)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", trust_remote_code=False)
    config = CLIPTextConfig(**text, vocab_size=len(tokenizer), max_position_embeddings=77)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
    )
    StableDiffusionPipeline(
        unet=UNet2DConditionModel(**unet),
        vae=vae,
        text_encoder=CLIPTextModel(config),
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(folder)


def build_sd15(folder: Path, quick: bool) -> None:
    """Stable Diffusion 1.5's configuration (quick: the tiny test pipeline), DDIM as SD-1.5 ships it."""
    from diffusers import DDIMScheduler

    if quick:
        from creator_kit.starters.tiny import build_stable_diffusion

        build_stable_diffusion(folder)
        return
    text = {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12}
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False)
    build_pipeline(folder, {"sample_size": 64, "cross_attention_dim": 768, "attention_head_dim": 8}, text, scheduler)


def build_turbo(folder: Path, quick: bool) -> None:
    """SD-Turbo's configuration (SD 2.1's UNet and OpenCLIP-H-sized text encoder), an Euler scheduler with trailing
    timesteps as SD-Turbo ships it (quick: the tiny test pipeline with that scheduler)."""
    from diffusers import EulerDiscreteScheduler

    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, timestep_spacing="trailing"
    )
    if quick:
        from diffusers import StableDiffusionPipeline

        from creator_kit.starters.tiny import build_stable_diffusion

        build_stable_diffusion(folder)
        pipeline = StableDiffusionPipeline.from_pretrained(folder)
        pipeline.scheduler = scheduler
        pipeline.save_pretrained(folder)
        return
    unet = {
        "sample_size": 64,
        "cross_attention_dim": 1024,
        "attention_head_dim": (5, 10, 20, 20),
        "use_linear_projection": True,
    }
    text = {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_attention_heads": 16,
        "num_hidden_layers": 23,
        "hidden_act": "gelu",
        "projection_dim": 1024,
    }
    build_pipeline(folder, unet, text, scheduler)


def build_gpt2(folder: Path, quick: bool) -> None:
    """GPT-2 124M's configuration (quick: 2 layers, 64 wide) with bench_text's 50257-token byte-level BPE tokenizer."""
    import torch
    from bench_text import VOCAB, build_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    build_tokenizer(folder)
    torch.manual_seed(0)
    shape = {"n_layer": 2, "n_embd": 64, "n_head": 2} if quick else {"n_layer": 12, "n_embd": 768, "n_head": 12}
    GPT2LMHeadModel(GPT2Config(**shape, vocab_size=VOCAB, eos_token_id=VOCAB - 1, bos_token_id=0)).save_pretrained(
        folder
    )


WORKLOADS = {
    "sd15": Workload(
        "sd15",
        "Stable Diffusion 1.5's configuration, 512x512, 4 DDIM steps with guidance 7.5, end to end",
        "text-to-image",
        build_sd15,
        {"steps": 4, "guidance": 7.5},
    ),
    "turbo": Workload(
        "turbo",
        "SD-Turbo's configuration (SD 2.1 UNet), 512x512, 1 Euler step without guidance, end to end",
        "text-to-image",
        build_turbo,
        {"steps": 1, "guidance": 0.0},
    ),
    "gpt2": Workload(
        "gpt2",
        f"GPT-2 124M's configuration, greedy decoding of {NEW_TOKENS} tokens (repetition penalty 1.1)",
        "text-generation",
        build_gpt2,
        {"max_new_tokens": NEW_TOKENS},
    ),
}


# ---------------------------------------------------------------------------------------------- the methods
# Each returns the call to time (it returns the units made: pictures or tokens) after loading its model.


def raw_diffusers(workload: Workload, folder: Path) -> Callable[[], int]:
    """`StableDiffusionPipeline.from_pretrained(folder)` called as its user would (float32)."""
    import torch
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(folder, use_safetensors=True)
    pipeline.set_progress_bar_config(disable=True)
    steps, guidance = workload.settings["steps"], workload.settings["guidance"]

    def call() -> int:
        with torch.inference_mode():
            pipeline(
                PROMPT,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=torch.Generator("cpu").manual_seed(SEED),
            )
        return 1

    return call


def creator_kit_image(
    workload: Workload, folder: Path, dtype: str | None = None, backend: str | None = None, warm: bool = False, **params
) -> Callable[[], int]:
    """`image.generate` on the registered model (`dtype` None: Creator Kit's default here), or on its converted
    variant (made before the runs, `convert_variant`); `warm`: one identical call first, counted as loading (a
    variant's graphs compile for each new input shape, so its first call is slower)."""
    from creator_kit import companions, image
    from creator_kit.library import variants

    repo_id = variants.variant_id(workload.repo_id, backend) if backend else workload.repo_id
    loaded = image.load_model(repo_id, dtype=dtype)
    settings = dict(workload.settings, seed=SEED, **params)
    if "decoder" in params:
        companions.decoder_for(params["decoder"], loaded)  # the companion loads with its model, not in the call

    def call() -> int:
        return len(image.generate(PROMPT, model=loaded, previews=False, **settings).images)

    if warm:
        call()
    return call


def raw_transformers(workload: Workload, folder: Path) -> Callable[[], int]:
    """`AutoModelForCausalLM.from_pretrained(folder).generate(...)` greedy, as its user would (float32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True).eval()
    inputs = tokenizer(TEXT_PROMPT, return_tensors="pt")
    settings = {"do_sample": False, "repetition_penalty": 1.1, "pad_token_id": tokenizer.eos_token_id}

    def call() -> int:
        with torch.inference_mode():
            out = model.generate(**inputs, **settings, max_new_tokens=workload.settings["max_new_tokens"])
        return out.shape[1] - inputs["input_ids"].shape[1]

    return call


def creator_kit_text(
    workload: Workload, folder: Path, quantize: str | None = None, backend: str | None = None, warm: bool = False
) -> Callable[[], int]:
    """`text.generate` with the "precise" preset (greedy) on the registered model, or on its converted variant
    (made before the runs, `convert_variant`); `warm`: one identical call first, counted as loading (OpenVINO
    compiles kernels for each new cache length once per loaded model, so a first call is slower)."""
    from creator_kit import text
    from creator_kit.library import variants

    repo_id = variants.variant_id(workload.repo_id, backend, int8=True) if backend else workload.repo_id
    loaded = text.load_model(repo_id, quantize=None if backend else quantize)
    tokens = workload.settings["max_new_tokens"]

    def call() -> int:
        return text.generate(TEXT_PROMPT, model=loaded, preset="precise", max_new_tokens=tokens).new_tokens

    if warm:
        call()
    return call


#: The OpenVINO variant (`models convert REPO --to openvino`): first call (compiles for the shape), second call.
IMAGE_VARIANT_METHODS = {
    "image.generate, OpenVINO variant": partial(creator_kit_image, backend="openvino"),
    "image.generate, OpenVINO variant, second call": partial(creator_kit_image, backend="openvino", warm=True),
    "image.generate, OpenVINO variant, decoder='tiny', second call": partial(
        creator_kit_image, backend="openvino", warm=True, decoder="tiny"
    ),
}

#: The methods whose UNet step and VAE decode are timed apart (`time_parts`), once each.
PARTS_METHODS = ("image.generate, default", "image.generate, dtype='float32'", "image.generate, OpenVINO variant")

#: workload -> method name -> the method. The first of each is the baseline (the raw library in float32).
METHODS: dict[str, dict[str, Callable[..., Callable[[], int]]]] = {
    "sd15": {
        "raw diffusers, float32": raw_diffusers,
        "image.generate, default": creator_kit_image,
        "image.generate, dtype='float32'": partial(creator_kit_image, dtype="float32"),
        "image.generate, decoder='tiny'": partial(creator_kit_image, decoder="tiny"),
        **IMAGE_VARIANT_METHODS,
    },
    "turbo": {
        "raw diffusers, float32": raw_diffusers,
        "image.generate, default": creator_kit_image,
        "image.generate, decoder='tiny'": partial(creator_kit_image, decoder="tiny"),
        **IMAGE_VARIANT_METHODS,
    },
    "gpt2": {
        "raw transformers, float32": raw_transformers,
        "text.generate, default": creator_kit_text,
        "text.generate, quantize='int8'": partial(creator_kit_text, quantize="int8"),
        "text.generate, OpenVINO int8 variant": partial(creator_kit_text, backend="openvino"),
        "text.generate, OpenVINO int8 variant, second call": partial(creator_kit_text, backend="openvino", warm=True),
    },
}


def register_tiny_autoencoder(models_dir: Path, folder: Path, quick: bool) -> None:
    """The fastest image path's companion: an AutoencoderTiny of TAESD's shape, random weights (quick: the tiny
    pipelines' 2x one)."""
    from creator_kit.library.store import ModelStore
    from creator_kit.starters.tiny import build_tiny_autoencoder

    build_tiny_autoencoder(folder, levels=2 if quick else None)
    ModelStore(models_dir).register_local("bench-taesd", folder, task="autoencoder", metadata={"latent_family": "sd"})
    shutil.rmtree(folder)


def convert_variant(models_dir: Path, workload: Workload) -> None:
    """The workload's OpenVINO variant in the store: int8 for text (`models convert REPO --to openvino --int8`), as
    converted for pictures (`--to openvino`)."""
    from creator_kit import convert
    from creator_kit.library.store import ModelStore

    int8 = workload.task == "text-generation"
    convert.convert(workload.repo_id, to="openvino", int8=int8, store=ModelStore(models_dir))


# ---------------------------------------------------------------------------------------------- one run (a process)


def worker(workload: Workload, method: str, models_dir: Path, parts: bool) -> dict[str, Any]:
    """Load and run `method` once in this process: seconds, units made, peak resident memory, the dtype it ran in."""
    import diffusers
    import torch
    import transformers

    from creator_kit import runtime
    from creator_kit.core import config
    from creator_kit.library.store import ModelStore

    for library, names in ((diffusers, DIFFUSERS_CLASSES), (transformers, TRANSFORMERS_CLASSES)):
        for name in names:
            getattr(library, name)  # imported now (both are lazy): not counted as loading, nor as the model's memory
    for engine in ("creator_kit.engines.image", "creator_kit.engines.text"):
        importlib.import_module(engine)
    config.configure(models_dir=models_dir)
    folder = ModelStore().snapshot_path(workload.repo_id)
    start_rss = psutil.Process().memory_info().rss  # every method's libraries imported, no model yet
    started = time.perf_counter()
    call = METHODS[workload.name][method](workload, folder)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    units = call()
    seconds = time.perf_counter() - started
    peak = peak_resident_bytes()
    result = {"seconds": seconds, "units": units, "load_s": load_s, "peak_bytes": peak, "start_bytes": start_rss}
    loaded = runtime.default_runtime.entries()
    result["dtype"] = loaded[0].dtype if loaded else "float32"
    if parts and loaded:
        result["parts"] = time_parts(loaded[0].model, torch)
    return result


def peak_resident_bytes() -> int:
    """This process's peak resident memory: Linux's VmHWM, which starts anew at exec. (``ru_maxrss`` does not: a
    child started by a large parent inherits the parent's peak, as this benchmark's builder process is.)"""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def time_parts(pipeline: Any, torch: Any) -> dict[str, float]:
    """One UNet step (batch 2, as with guidance) and one VAE decode at the pipeline's size and dtype, warm."""
    dtype, size = pipeline.unet.dtype, pipeline.unet.config.sample_size
    latents = torch.randn(2, 4, size, size, dtype=dtype)
    text = torch.randn(2, 77, pipeline.unet.config.cross_attention_dim, dtype=dtype)
    parts = {
        "UNet step, batch 2": lambda: pipeline.unet(latents, 500, text),
        "VAE decode": lambda: pipeline.vae.decode(latents[:1]),
    }
    timings = {}
    with torch.inference_mode():
        for name, part in parts.items():
            started = time.perf_counter()
            part()
            timings[name] = time.perf_counter() - started
    return timings


def run_in_process(workload: str, method: str, models_dir: Path, quick: bool, parts: bool) -> dict[str, Any]:
    """`worker` in a fresh Python process; its result."""
    command = [sys.executable, __file__, "--worker", workload, method, "--models-dir", str(models_dir)]
    command += ["--quick"] * quick + ["--parts"] * parts
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{workload} / {method} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix(RESULT))


# ---------------------------------------------------------------------------------------------- the report


def cpu_flags() -> str:
    from creator_kit.workflows.bench import cpu_flags as notable

    return ", ".join(notable()) or "none of note"


def report(runs: dict[str, dict[str, list[dict[str, Any]]]], args: argparse.Namespace, minutes: float) -> str:
    """RESULTS.md's section: the machine, then one table per workload."""
    import torch

    from creator_kit.workflows.bench import cpu_name

    command = "benchmarks/bench_cpu.py" + (" --quick" if args.quick else "") + f" --repeats {args.repeats}"
    lines = [
        SECTION,
        "",
        f"Run {date.today()} with `.venv/bin/python {command}` ({minutes:.1f} min in all): {cpu_name()} "
        f"({platform.machine()}), {torch.get_num_threads()} threads, CPU flags {cpu_flags()}, torch "
        f"{torch.__version__}; 1-minute load average {os.getloadavg()[0]:.2f} at the end. Random weights, real "
        f"configurations{QUICK_NOTE if args.quick else ''}. Each run is a fresh process (a first call; load "
        f"timed apart); median of {args.repeats}, alternating order. Peak MB: the process's peak resident memory "
        "(VmHWM), libraries included; above start: the peak less the resident memory once the libraries "
        "were imported.",
    ]
    parts: dict[str, float] = {}
    speeds: dict[str, dict[str, float]] = {}
    peaks: dict[str, dict[str, float]] = {}
    for name, methods in runs.items():
        workload = WORKLOADS[name]
        text = workload.task == "text-generation"
        rate = "tokens/s" if text else "s"
        lines += ["", f"### {workload.title}", ""]
        columns = (
            f"method | dtype | median {rate} | min | max | speed vs raw float32 | load s | peak MB | above start MB"
        )
        lines += [f"| {columns} |"]
        lines += ["|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        values = {m: [r["units"] / r["seconds"] if text else r["seconds"] for r in rs] for m, rs in methods.items()}
        baseline = statistics.median(next(iter(values.values())))
        for method, results in methods.items():
            median = statistics.median(values[method])
            speed = median / baseline if text else baseline / median
            peak = max(r["peak_bytes"] for r in results) / 2**20
            speeds.setdefault(name, {})[method], peaks.setdefault(name, {})[method] = speed, peak
            above = max(r["peak_bytes"] - r["start_bytes"] for r in results) / 2**20
            load = statistics.median(r["load_s"] for r in results)
            lines.append(
                f"| {method} | {results[0]['dtype']} | {median:.1f} | {min(values[method]):.1f} | "
                f"{max(values[method]):.1f} | {speed:.2f}x | {load:.1f} | {peak:,.0f} | {above:,.0f} |"
            )
            for part, seconds in results[0].get("parts", {}).items():
                parts[f"{part} ({results[0]['dtype']}{', OpenVINO' if 'OpenVINO' in method else ''})"] = seconds
    lines += ["", *verdicts(speeds, peaks)]
    if parts:
        lines += ["", "SD-1.5 parts, timed once after the run (warm):", "", "| part | seconds |", "|---|---:|"]
        lines += [f"| {name} | {value:.2f} |" for name, value in parts.items()]
    lines += [
        "",
        "Reading: on a CPU with AVX512-BF16 / AMX, Creator Kit runs diffusion models in bfloat16 by default "
        "(`devices.select_dtype`; `dtype=` / `--dtype` overrides, and the manifest records it); the quality cost is "
        "guarded in tests/test_dtype.py (latents of the same seed keep a cosine similarity above 0.99 at every step). "
        "Text models stay in float32 by default (decoding measured slower in bfloat16); the fastest text path is "
        "the OpenVINO variant with int8 weights (`creator-kit models convert REPO --to openvino --int8`, made "
        'before the runs, not timed here; its greedy tokens differ slightly: section "int8 and converted text '
        "models\"), and torch's dynamic int8 (`quantize='int8'`) needs no conversion. The fastest picture path is "
        "the OpenVINO variant (`creator-kit models convert REPO --to openvino`, made before the runs, not timed "
        "here), whose graphs compile for each new input shape on the first call after a load (the panels, "
        "`compare` and queues keep the model loaded), with `decoder='tiny'`. `creator-kit models bench REPO` "
        "measures a model on the user's own machine the same way, through the engines.",
        "",
    ]
    return "\n".join(lines)


def verdicts(speeds: dict[str, dict[str, float]], peaks: dict[str, dict[str, float]]) -> list[str]:
    """Issue 14's targets on this machine, each met or missed (for the workloads that ran)."""

    def line(label: str, speed: float, target: float, method: str) -> str:
        return f"- {label} >= {target}x raw float32: {speed:.2f}x ({method}), {'met' if speed >= target else 'missed'}"

    found = []
    for name, target, fastest_target in (("sd15", 2.5, 4.0), ("gpt2", None, 2.5)):
        if name not in speeds:
            continue
        ours = {method: speed for method, speed in speeds[name].items() if not method.startswith("raw")}
        if target is not None:
            default = next(method for method in ours if method.endswith("default"))
            found.append(line(f"{name}, Creator Kit's default", ours[default], target, default))
        fastest = max(ours, key=ours.get)
        found.append(line(f"{name}, Creator Kit's fastest path", ours[fastest], fastest_target, fastest))
    for name, methods in peaks.items():
        raw, *ours = methods
        higher = [
            f"{method} {methods[method]:,.0f} MB" for method in ours if methods[method] > MEMORY_SLACK * methods[raw]
        ]
        verdict = "missed: " + ", ".join(higher) if higher else "met"
        found.append(f"- {name}, peak memory no higher than {raw} ({methods[raw]:,.0f} MB, +1% noise): {verdict}")
    return ["Targets (issue 14):", "", *found]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="tiny shapes: every code path in seconds (no figures)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--worker", nargs=2, metavar=("WORKLOAD", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--models-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--parts", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(WORKLOADS[args.worker[0]], args.worker[1], args.models_dir, args.parts)
        print(RESULT + json.dumps(result))
        return 0

    from creator_kit.library.store import ModelStore

    began = time.perf_counter()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as scratch:
        models_dir = Path(scratch) / "models"
        register_tiny_autoencoder(models_dir, Path(scratch) / "taesd", args.quick)
        for name in args.only:
            workload, build = WORKLOADS[name], Path(scratch) / name
            workload.build(build, args.quick)
            ModelStore(models_dir).register_local(workload.repo_id, build, task=workload.task)
            shutil.rmtree(build)  # the store holds its own copy
            convert_variant(models_dir, workload)
            methods = list(METHODS[name])
            runs[name] = {method: [] for method in methods}
            for repeat in range(args.repeats):
                for method in methods if repeat % 2 == 0 else reversed(methods):
                    parts = name == "sd15" and repeat == 0 and method in PARTS_METHODS
                    runs[name][method].append(run_in_process(name, method, models_dir, args.quick, parts))
            store = ModelStore(models_dir)
            for model in store.installed(workload.task):  # the model and its variant
                store.remove(model.repo_id)
    section = report(runs, args, (time.perf_counter() - began) / 60)
    print(section)
    if not args.no_write and not args.quick:
        write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
