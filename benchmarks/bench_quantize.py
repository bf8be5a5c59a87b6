"""int8 and converted text models: speed on GPT-2 124M shapes and quality on the trained starter model, in one run.

Speed: GPT-2 124M (its real config, random weights), greedy decoding of `--tokens` new tokens after a
20-token prompt, torch on `--threads` threads, every method timed `--repeats` times in alternating
rounds. Methods: float32; torch.ao dynamic int8 (`runtime.quantize_int8`, Creator Kit's quantize="int8");
torchao Int8DynamicActivationInt8Weight and Int8WeightOnly, eager and with torch.compile; and the
converted variants (`creator_kit.convert`): OpenVINO, OpenVINO with NNCF int8 weights, ONNX Runtime,
ONNX Runtime with dynamic int8. Quality: greedy-token agreement with float32 on the starter text
model (trained on this machine), over several prompts.

    .venv/bin/python benchmarks/bench_quantize.py [--tokens 64] [--repeats 3] [--no-compile] [--no-text] [--no-unet]

Needs the openvino and onnx extras (the dev install has them), and torchao, measured here but no dependency
(``pip install --target DIR torchao`` and PYTHONPATH=DIR: installed in the venv, torchao's import notices
reach every command's stderr, since transformers and diffusers import it when present).
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

# Torch's idle OpenMP workers would spin while OpenVINO or ONNX Runtime compute (and the reverse), which on a
# 2-core machine slows whichever runs by several times: every method then waits passively.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from results_file import RESULTS, write_section
from transformers import GPT2Config, GPT2LMHeadModel

from creator_kit import ModelStore, runtime
from creator_kit.convert import graphs
from creator_kit.engines.text import load_causal_lm
from creator_kit.engines.variant_text import VariantLM
from creator_kit.library import variants
from creator_kit.starters.build import build_starters

SECTION = "## int8 and converted text models"
SECTION_UNET = "## int8 for a diffusion UNet"
PROMPTS = ["Once upon a time", "The old man walked", "In the morning the children", "She opened the door and"]


def variant(model: torch.nn.Module, backend: str, int8: bool, folder: Path) -> VariantLM:
    """`model` converted the way `convert.convert` does it, without a store; int8: NNCF's int8 weights for OpenVINO
    (as `convert` makes them), ONNX Runtime's dynamic int8 for ONNX (measured, not offered there)."""
    folder.mkdir(parents=True)
    program, shape = graphs.export_step(model)
    graph = folder / variants.GRAPH_FILES[backend]
    if backend == "openvino":
        graphs.to_openvino(program, folder, int8)
    else:
        graphs.to_onnx(program, folder)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(graph, graph, weight_type=QuantType.QInt8)
    model.generation_config.save_pretrained(folder)  # as `convert` keeps it: the variant generates with it
    about = {"backend": backend, "int8": int8, **shape}
    (folder / variants.VARIANT_FILE).write_text(json.dumps(about), encoding="utf-8")
    return VariantLM(model.config, graph, about)


#: The torchao methods: name -> (kind, compiled).
TORCHAO = {
    "torchao int8 dynamic (eager)": ("dynamic", False),
    "torchao int8 weight-only (eager)": ("weight", False),
    "torchao int8 dynamic + compile": ("dynamic", True),
    "torchao int8 weight-only + compile": ("weight", True),
}


def torchao_methods(
    base: torch.nn.Module, names: Iterable[str], compile_too: bool
) -> dict[str, Callable[[], torch.nn.Module]]:
    """The torchao methods among `names` (the compiled ones only with `compile_too`); none without torchao."""
    if importlib.util.find_spec("torchao") is None:
        print("torchao is not importable: its methods are skipped (see this file's docstring)", flush=True)
        return {}
    chosen = {name: TORCHAO[name] for name in names if compile_too or not TORCHAO[name][1]}
    return {
        name: (lambda k=kind, c=compiled: torchao(copy.deepcopy(base), k, c))
        for name, (kind, compiled) in chosen.items()
    }


def torchao(model: torch.nn.Module, kind: str, compiled: bool) -> torch.nn.Module:
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_

    config = Int8DynamicActivationInt8WeightConfig() if kind == "dynamic" else Int8WeightOnlyConfig()
    quantize_(runtime.as_linear(model), config)
    if compiled:  # a static cache: one graph for the prompt, one for each next token (a growing cache recompiles)
        if hasattr(model, "generation_config"):
            model.generation_config.cache_implementation = "static"
        model.forward = torch.compile(model.forward)
    return model


def methods(base: torch.nn.Module, scratch: Path, compile_too: bool) -> dict[str, Callable[[], torch.nn.Module]]:
    """Each method's name and how to make its model from a copy of `base`."""
    made: dict[str, Callable[[], torch.nn.Module]] = {
        "float32": lambda: base,
        "torch.ao dynamic int8": lambda: runtime.quantize_int8(copy.deepcopy(base)),
    }
    made.update(torchao_methods(base, TORCHAO, compile_too))
    for backend in variants.BACKENDS:
        for int8 in (False, True):
            name = f"{backend}{' int8' if int8 else ''}"
            made[name] = lambda b=backend, q=int8, n=name: variant(base, b, q, scratch / n.replace(" ", "-"))
    return made


def greedy(model: torch.nn.Module, ids: torch.Tensor, tokens: int) -> torch.Tensor:
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False
        )
    return out[0, ids.shape[1] :]


def speed(args: argparse.Namespace, scratch: Path) -> list[dict]:
    torch.manual_seed(0)
    base = GPT2LMHeadModel(GPT2Config()).eval()
    base.generation_config.pad_token_id = base.config.eos_token_id
    ids = torch.randint(0, 50000, (1, 20))
    rows, models = {}, {}
    for name, make in methods(base, scratch, args.compile).items():
        start = time.perf_counter()
        models[name] = make()
        greedy(models[name], ids, args.tokens)  # warm-up at the timed length (a static cache compiles per length)
        rows[name] = {"method": name, "prepare_s": time.perf_counter() - start, "rates": []}
        print(f"{name}: ready in {rows[name]['prepare_s']:.1f} s", flush=True)
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            greedy(model, ids, args.tokens)
            rows[name]["rates"].append(args.tokens / (time.perf_counter() - start))
    reference = statistics.median(rows["float32"]["rates"])
    for row in rows.values():
        row["tokens_per_s"] = statistics.median(row.pop("rates"))
        row["ratio"] = row["tokens_per_s"] / reference
        print(f"{row['method']}: {row['tokens_per_s']:.1f} tokens/s ({row['ratio']:.2f}x)", flush=True)
    return list(rows.values())


def quality(args: argparse.Namespace, scratch: Path) -> dict[str, str]:
    """Share of greedy tokens equal to float32's, per method, on the trained starter text model."""
    store = ModelStore(scratch / "models")
    starter = build_starters(store, tasks=["text-generation"])[0]
    base, tokenizer = load_causal_lm(Path(starter.path), device="cpu", dtype=torch.float32, use_safetensors=True)
    prompts = [tokenizer(p, return_tensors="pt")["input_ids"] for p in PROMPTS]
    reference = [greedy(base, ids, args.tokens) for ids in prompts]
    agreement = {}
    for name, make in methods(base, scratch / "quality", compile_too=False).items():
        model = make()
        try:
            same = [greedy(model, ids, args.tokens) == ref for ids, ref in zip(prompts, reference, strict=True)]
        except Exception as error:  # a method that cannot run this model: said in the table
            agreement[name] = f"fails: {str(error).splitlines()[0][:90]}"
            continue
        agreement[name] = f"{statistics.mean(match.float().mean().item() for match in same):.3f}"
    return agreement


def unet(args: argparse.Namespace) -> list[dict]:
    """One UNet step (batch 2, as with guidance) of a small SD-shaped UNet at 512x512: float32 against int8."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    shape = {"block_out_channels": (128, 256, 512, 512), "cross_attention_dim": 768, "attention_head_dim": 8}
    base = UNet2DConditionModel(sample_size=64, **shape).eval()
    inputs = (torch.randn(2, 4, 64, 64), torch.tensor([500, 500]), torch.randn(2, 77, 768))
    bf16 = tuple(t.to(torch.bfloat16) if t.is_floating_point() else t for t in inputs)
    made = {
        "float32": lambda: base,
        "bfloat16 (Creator Kit's default on this CPU)": lambda: copy.deepcopy(base).to(torch.bfloat16),
        "torch.ao dynamic int8": lambda: runtime.quantize_int8(copy.deepcopy(base)),
    }
    if args.compile:
        made["bfloat16 + compile"] = lambda: torch.compile(copy.deepcopy(base).to(torch.bfloat16))
    for precision in ("f32", "bf16"):
        made[f"openvino, {precision} (static shapes)"] = lambda p=precision: openvino_unet(
            base, inputs, p, args.threads
        )
    made.update(torchao_methods(base, ("torchao int8 dynamic (eager)", "torchao int8 dynamic + compile"), args.compile))
    models, rows = {}, {}
    with torch.inference_mode():
        for name, make in made.items():
            start = time.perf_counter()
            models[name] = make()
            models[name](*(bf16 if "bfloat16" in name else inputs))
            rows[name] = {"method": name, "prepare_s": time.perf_counter() - start, "times": []}
            print(f"UNet {name}: ready in {rows[name]['prepare_s']:.1f} s", flush=True)
        for _ in range(args.repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(*(bf16 if "bfloat16" in name else inputs))
                rows[name]["times"].append(time.perf_counter() - start)
    for row in rows.values():
        row["step_s"] = statistics.median(row.pop("times"))
        row["ratio"] = rows["float32"]["step_s"] / row["step_s"]
        print(f"UNet {row['method']}: {row['step_s']:.2f} s per step ({row['ratio']:.2f}x)", flush=True)
    return list(rows.values())


class _UNetCall(torch.nn.Module):
    """The UNet as a function of tensors only (what OpenVINO traces)."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, text, return_dict=False)[0]


def openvino_unet(unet: torch.nn.Module, inputs: tuple, precision: str, threads: int) -> Callable[..., object]:
    """`unet` converted by `openvino.convert_model` at the shapes of `inputs`, compiled in `precision`."""
    import openvino

    with graphs.no_telemetry():
        graph = openvino.convert_model(_UNetCall(unet), example_input=inputs, input=[tuple(t.shape) for t in inputs])
    settings = {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    compiled = openvino.Core().compile_model(graph, "CPU", settings)
    return lambda *tensors: compiled([t.numpy() for t in tensors])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip the torch.compile methods")
    parser.add_argument("--no-text", dest="text", action="store_false", help="skip the text part")
    parser.add_argument("--no-unet", dest="unet", action="store_false", help="skip the diffusion UNet part")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sections = []
    if args.text:
        with tempfile.TemporaryDirectory() as scratch:
            rows = speed(args, Path(scratch))
            agreement = quality(args, Path(scratch))
        sections.append(text_section(args, rows, agreement))
    if args.unet:
        sections.append(unet_section(args, unet(args)))
    for section in sections:
        print(section)
        if not args.no_write:
            write_section(section, RESULTS)


def machine() -> str:
    """The CPU and its flags of note, as `creator-kit models bench` names them."""
    from creator_kit.workflows.bench import cpu_flags, cpu_name

    return f"{cpu_name()} ({platform.machine()}; {', '.join(cpu_flags()) or 'no flags of note'})"


def text_section(args: argparse.Namespace, rows: list[dict], agreement: dict[str, str]) -> str:
    tools = ("torch", "torchao", "openvino", "nncf", "onnxruntime")
    versions = {name: importlib.metadata.version(name) for name in tools if importlib.util.find_spec(name)}
    return "\n".join(
        [
            SECTION,
            "",
            f"GPT-2 124M shapes (random weights), greedy, 20-token prompt, {args.tokens} new tokens, "
            f"{args.threads} threads, median of {args.repeats} alternating rounds; {machine()}. "
            "prepare s: conversion or quantization, plus a warm-up of the timed length (compilation included; the "
            "compiled methods use a static cache). Agreement: "
            f"share of {args.tokens} greedy tokens equal to float32's on the trained starter text model, "
            f"{len(PROMPTS)} prompts (compiled methods: not run, the same weights as eager). "
            f"Versions: {', '.join(f'{k} {v}' for k, v in versions.items())}.",
            "",
            "| method | tokens/s | vs float32 | prepare s | greedy agreement (starter) |",
            "|---|---|---|---|---|",
            *(
                f"| {r['method']} | {r['tokens_per_s']:.1f} | {r['ratio']:.2f}x | {r['prepare_s']:.1f} | "
                f"{agreement.get(r['method'], 'not run')} |"
                for r in rows
            ),
            "",
        ]
    )


def unet_section(args: argparse.Namespace, rows: list[dict]) -> str:
    return "\n".join(
        [
            SECTION_UNET,
            "",
            "One step of a UNet2DConditionModel with block_out_channels (128, 256, 512, 512) at 512x512 (64x64 "
            f"latents, batch 2 as with guidance), random weights, {args.threads} threads of {machine()}, "
            f"median of {args.repeats} "
            "alternating rounds; int8 quantizes its Linear layers (attention and projections); OpenVINO runs the UNet "
            "converted by `openvino.convert_model` at these fixed shapes, in float32 or bfloat16 precision.",
            "",
            "| method | s per step | speed vs float32 | prepare s |",
            "|---|---|---|---|",
            *(f"| {r['method']} | {r['step_s']:.2f} | {r['ratio']:.2f}x | {r['prepare_s']:.1f} |" for r in rows),
            "",
        ]
    )


if __name__ == "__main__":
    main()
