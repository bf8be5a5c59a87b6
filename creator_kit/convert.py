"""Converted variants: OpenVINO or ONNX Runtime graphs of a text model, OpenVINO graphs of a text-to-image
pipeline's UNet and VAE decoder; each variant its own model in the store.

    convert("local/starter-text", to="onnx")   # registers local/starter-text-onnx
    text.generate("Once upon a time", model="local/starter-text-onnx")
    convert("local/starter-image", to="openvino")   # registers local/starter-image-openvino

A text variant holds one decoding step of the model exported with `torch.export` (the key/value cache as
plain tensors), converted by `openvino.convert_model` or `torch.onnx.export`, in float32; with ``int8=True``
(OpenVINO only) NNCF compresses its weights to int8, the fastest text path measured here
(benchmarks/bench_quantize.py). ONNX Runtime's dynamic int8 is not offered: no faster than torch's own
``quantize="int8"``, and it breaks on small vocabularies. Beside the graph: the source's
tokenizer and config and a `VARIANT_FILE` naming its source, revision,
tools and options. It loads as a transformers `GenerationMixin` model, so every generation setting
works on it as on the source. A picture variant (`variant_pipeline`) is the source's pipeline folder with
the UNet and the VAE as OpenVINO graphs; it loads as the source's diffusers pipeline class.
optimum-intel and optimum-onnx are not used: they pin transformers below 5.6 and 4.58.
The conversion is built in a scratch folder and registered whole, or not at all.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from creator_kit import manifest as manifests
from creator_kit import sizing
from creator_kit.catalog import TEXT_GENERATION, TEXT_TO_IMAGE, TEXT_TO_VIDEO
from creator_kit.errors import CreatorKitError, InvalidInputError, ModelNotInstalledError, WrongTaskError
from creator_kit.events import Done, EventCallback, Progress, emit
from creator_kit.store import LOCAL_NAMESPACE, ModelStore

OPERATION = "convert"
BACKENDS = ("openvino", "onnx")
#: The packages each backend needs (the extra of the same name installs them).
PACKAGES = {"openvino": ("openvino", "nncf"), "onnx": ("onnxruntime", "onnx", "onnxscript")}
GRAPH_FILES = {"openvino": "model.xml", "onnx": "model.onnx"}
VARIANT_FILE = "creator_kit_variant.json"
#: The stages of a conversion, by task (one Progress event each).
STAGES = {TEXT_GENERATION: ("load", "export", "convert", "save"), TEXT_TO_IMAGE: ("load", "unet", "vae", "save")}


class MissingExtraError(CreatorKitError):
    """A backend's optional packages are not installed."""

    exit_code = 3


def variant_id(repo_id: str, backend: str, int8: bool = False) -> str:
    """The store id of `repo_id`'s `backend` variant: ``local/<name>-<backend>`` (``-int8`` after it for int8)."""
    check_backend(backend)
    return f"{LOCAL_NAMESPACE}/{repo_id.split('/')[-1]}-{backend}{'-int8' if int8 else ''}"


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise InvalidInputError(f"Convert to one of {', '.join(BACKENDS)}, not {backend!r}.")
    return backend


def check_offered(backend: str, int8: bool, task: str = TEXT_GENERATION) -> None:
    """WrongTaskError for a task that does not convert (video), or a picture model to anything but float OpenVINO;
    InvalidInputError for a variant measured no faster than what it would replace (benchmarks/RESULTS.md)."""
    if task == TEXT_TO_VIDEO:
        raise WrongTaskError("Text-to-video models do not convert: text-generation and text-to-image models do.")
    check_backend(backend)
    if task == TEXT_TO_IMAGE and (backend != "openvino" or int8):
        raise WrongTaskError(
            "Text-to-image models convert to openvino only, without --int8: its fixed-shape graphs are the "
            "measured speed-up for pictures (run `creator-kit models convert MODEL --to openvino`)."
        )
    if backend == "onnx" and int8:
        raise InvalidInputError(
            "onnx int8 is not offered: it was no faster than torch's own int8 (--quantize int8 without a backend); "
            "the fastest int8 here is --to openvino --int8."
        )


def require_backend(backend: str) -> None:
    """MissingExtraError with the pip command unless `backend`'s packages are importable."""
    missing = [name for name in PACKAGES[check_backend(backend)] if not _installed(name)]
    if missing:
        raise MissingExtraError(
            f'The {backend} backend needs {", ".join(missing)}: run pip install "creator-kit[{backend}]".'
        )


def _installed(package: str) -> bool:
    try:
        importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def convert(
    repo_id: str,
    *,
    to: str,
    int8: bool = False,
    overwrite: bool = False,
    store: ModelStore | None = None,
    on_event: EventCallback | None = None,
) -> Any:
    """Convert the installed text or text-to-image model `repo_id` for backend `to` and register it; returns the
    InstalledModel.

    Progress arrives as one Progress event per stage (`STAGES` of the model's task), then Done with the new model.
    """
    store = store or ModelStore()
    source = store.get(repo_id)
    check_offered(to, int8, source.task)
    require_backend(to)
    if is_variant(Path(source.path)):
        raise InvalidInputError(f"{repo_id} is already a converted model: convert its source instead.")
    target = variant_id(source.repo_id, to, int8)
    if store.is_installed(target) and not overwrite:
        raise InvalidInputError(f"{target} already exists: pass overwrite=True (--overwrite) to make it again.")
    store.require_writable()
    store.check_before_load(source.repo_id)

    stage = _Stages(on_event, STAGES[source.task])
    with tempfile.TemporaryDirectory(prefix="creator-kit-convert-") as scratch:
        folder = Path(scratch)
        write = _write_pipeline if source.task == TEXT_TO_IMAGE else _write_text
        shape, tools = write(source, folder, to, int8, stage)
        stage("save")
        about = {"backend": to, "int8": int8, "source": source.repo_id, "revision": source.commit, **shape}
        about["parameters"] = sizing.count_parameters(Path(source.path))  # what sizes the variant (`models info`)
        about["tools"] = {name: importlib.metadata.version(name) for name in ("torch", "transformers", *tools)}
        (folder / VARIANT_FILE).write_text(json.dumps(about, indent=2), encoding="utf-8")
        record = manifests.Manifest(
            kind="model", model=source.repo_id, revision=source.commit, parameters={"conversion": about}, seed=None
        )
        converted = store.register_local(
            target,
            folder,
            task=source.task,
            source="custom",
            description=f"{source.repo_id} converted to {to}{' with int8 weights' if int8 else ''}",
            metadata={"manifest": record.to_dict(), "conversion": about},
        )
    emit(on_event, Done(OPERATION, converted))
    return converted


def _write_text(source: Any, folder: Path, to: str, int8: bool, stage: _Stages) -> tuple[dict, tuple[str, ...]]:
    """The text variant of `source` in `folder`: the graph, tokenizer and configurations; its shape and tools."""
    import torch

    from creator_kit import text

    stage("load")
    model, tokenizer = text.load_causal_lm(
        Path(source.path), device="cpu", dtype=torch.float32, use_safetensors=not source.allow_pickle
    )
    with _quiet_tools():  # the exporters' and converters' notes, tables and bars about their own work
        stage("export")
        program, shape = export_step(model)
        stage("convert")
        tools = _to_openvino(program, folder, int8) if to == "openvino" else _to_onnx(program, folder)
    tokenizer.save_pretrained(folder)
    model.config.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    return shape, tools


def _write_pipeline(source: Any, folder: Path, to: str, int8: bool, stage: _Stages) -> tuple[dict, tuple[str, ...]]:
    """The OpenVINO variant of the text-to-image pipeline `source` in `folder` (`variant_pipeline.write`)."""
    import torch

    from creator_kit import image, variant_pipeline

    if source.allow_pickle:  # a variant loads its torch parts (the text encoder) from safetensors only
        raise InvalidInputError(f"{source.repo_id} has pickle weights: only safetensors pipelines convert.")
    stage("load")
    pipeline = image.open_pipeline(
        "AutoPipelineForText2Image", Path(source.path), dtype=torch.float32, use_safetensors=True, kind="pipeline"
    )
    with _quiet_tools(), _no_telemetry():
        variant_pipeline.write(pipeline, Path(source.path), folder, on_part=stage)
    return {"pipeline": type(pipeline).__name__}, ("diffusers", "openvino")


class _Stages:
    def __init__(self, on_event: EventCallback | None, names: tuple[str, ...]) -> None:
        self.on_event, self.total, self.done = on_event, len(names), 0

    def __call__(self, name: str) -> None:
        emit(self.on_event, Progress(OPERATION, self.done, self.total, unit="stage", stage=name))
        self.done += 1


# ---------------------------------------------------------------------------------------------- export


def export_step(model: Any) -> tuple[Any, dict[str, int]]:
    """`model`'s decoding step as a torch ExportedProgram: (input_ids, *past keys and values) -> (logits, *present),
    with dynamic sequence and cache lengths; and the cache's shape (layers, heads, head_dim)."""
    import torch
    from torch.export import Dim

    from creator_kit.variant_model import Step

    config = model.config.get_text_config(decoder=True)
    layers = config.num_hidden_layers
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    ids = torch.zeros(2, 3, dtype=torch.long)
    past = tuple(torch.zeros(2, heads, 5, head_dim) for _ in range(2 * layers))
    batch, seq, cached = Dim("batch"), Dim("seq"), Dim("past")
    dynamic = {"input_ids": {0: batch, 1: seq}, "past": tuple({0: batch, 2: cached} for _ in past)}
    with torch.no_grad():
        program = torch.export.export(Step(model).eval(), (ids, *past), dynamic_shapes=dynamic, strict=False)
    return program, {"layers": layers, "heads": heads, "head_dim": head_dim}


def _to_openvino(program: Any, folder: Path, int8: bool = False) -> tuple[str, ...]:
    """`program` as an OpenVINO graph in `folder`; `int8`: its weights compressed to int8 by NNCF (asymmetric, per
    channel) before it is saved."""
    with _no_telemetry():
        import openvino

        graph = openvino.convert_model(program)
        if int8:
            import nncf

            graph = nncf.compress_weights(graph)
        save_openvino(graph, folder / GRAPH_FILES["openvino"], fp16=False)
    return ("openvino", "nncf") if int8 else ("openvino",)


def save_openvino(graph: Any, path: Path, *, fp16: bool) -> None:
    """`graph` as `path` (.xml) and its weights beside it as .weights (`fp16`: float weights stored as float16).

    Not OpenVINO's .bin: that is a suffix the store refuses as possible pickle weights, and these are raw tensors.
    """
    import openvino

    openvino.save_model(graph, path, compress_to_fp16=fp16)
    path.with_suffix(".bin").rename(path.with_suffix(".weights"))


def _to_onnx(program: Any, folder: Path) -> tuple[str, ...]:
    import torch

    torch.onnx.export(program, dynamo=True, verbose=False).save(folder / GRAPH_FILES["onnx"])
    return ("onnx", "onnxruntime")


@contextlib.contextmanager
def _no_telemetry() -> Iterator[None]:
    """OpenVINO's converter and NNCF send usage statistics unless they run in CI: they run as if there."""
    saved = {name: os.environ.get(name) for name in ("CI", "NNCF_CI")}
    os.environ.update(CI="true", NNCF_CI="1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _quiet_tools() -> Iterator[None]:
    import logging
    import warnings

    with warnings.catch_warnings(), open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


# ---------------------------------------------------------------------------------------------- running a variant


def is_variant(folder: Path) -> bool:
    return (Path(folder) / VARIANT_FILE).is_file()


def load_variant(folder: Path, *, device: str = "cpu") -> tuple[Any, Any]:
    """The variant in `folder` as a generating model, and its tokenizer (the text loader's answer for a variant)."""
    from transformers import AutoConfig, AutoTokenizer

    if device != "cpu":
        raise InvalidInputError(f"Converted models run on the CPU: use device='cpu', not {device!r}.")
    about = json.loads((folder / VARIANT_FILE).read_text(encoding="utf-8"))
    require_backend(about["backend"])
    config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    from creator_kit.variant_model import VariantLM

    return VariantLM(config, folder / GRAPH_FILES[about["backend"]], about), tokenizer


def load_pipeline_variant(folder: Path, *, device: str, dtype: Any) -> Any:
    """The text-to-image variant in `folder` as a diffusers pipeline (the image loader's answer for a variant)."""
    from creator_kit import variant_pipeline

    about = json.loads((folder / VARIANT_FILE).read_text(encoding="utf-8"))
    require_backend(about["backend"])
    return variant_pipeline.load(folder, device=device, dtype=dtype)


def source_of(installed: Any) -> str | None:
    """The repo id an installed variant was converted from (None for other models)."""
    conversion = (installed.metadata or {}).get("conversion") if hasattr(installed, "metadata") else None
    return conversion["source"] if conversion else None


def require_variant(store: ModelStore, repo_id: str, backend: str, int8: bool = False) -> str:
    """The installed `backend` variant of `repo_id`, or ModelNotInstalledError with the command that makes it."""
    check_offered(backend, int8, store.get(repo_id).task)
    target = variant_id(repo_id, backend, int8)
    if not store.is_installed(target):
        kind, flag = ("int8 ", " --int8") if int8 else ("", "")
        command = f"creator-kit models convert {repo_id} --to {backend}{flag}"
        raise ModelNotInstalledError(f"{repo_id} has no {kind}{backend} variant: run `{command}`.")
    return target
