"""Making a converted variant: check the offer, build it in a scratch folder, register it whole (`convert`)."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import torch

from creator_kit.convert.graphs import export_step, no_telemetry, quiet_tools, to_onnx, to_openvino
from creator_kit.convert.pipeline import write as write_pipeline
from creator_kit.core.errors import InvalidInputError, ModelNotInstalledError, OutputExistsError, from_os_error
from creator_kit.core.events import Done, EventCallback, Progress, emit
from creator_kit.engines import image, text
from creator_kit.engines import manifest as manifests
from creator_kit.library import sizing
from creator_kit.library.cache import InstalledModel
from creator_kit.library.catalog import TEXT_GENERATION, TEXT_TO_IMAGE
from creator_kit.library.store import ModelStore
from creator_kit.library.variants import (
    VARIANT_FILE,
    check_offered,
    conversion_of,
    convert_command,
    is_variant,
    require_backend,
    variant_id,
)

OPERATION = "convert"
#: The stages of a conversion, by task (one Progress event each).
STAGES = {TEXT_GENERATION: ("load", "export", "convert", "save"), TEXT_TO_IMAGE: ("load", "unet", "vae", "save")}


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

    The variant is built in the store's scratch space (`ModelStore.scratch`) and registered whole, or not at all:
    a failure or an interrupt leaves nothing, and a full disk is InsufficientDiskError. A model already under the
    variant's name is replaced only with `overwrite`, and only if it is a variant of the same task.
    Progress arrives as one Progress event per stage (`STAGES` of the model's task), then Done with the new model.
    """
    store = store or ModelStore()
    source = store.get(repo_id)
    check_offered(to, int8, source.task)
    require_backend(to)
    if is_variant(Path(source.path)):
        raise InvalidInputError(f"{repo_id} is already a converted model: convert its source instead.")
    target = variant_id(source.repo_id, to, int8)
    if store.is_installed(target):
        _check_replaceable(store.get(target), source, to, overwrite)
    store.require_writable()
    store.check_before_load(source.repo_id)

    stage = _Stages(on_event, STAGES[source.task])
    try:
        with store.scratch() as folder:
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
    except OSError as exc:  # a full disk, wherever it is met (OpenVINO's writer included: `graphs.save_openvino`)
        raise from_os_error(exc, f"{target} in {store.models_dir}") from exc
    emit(on_event, Done(OPERATION, converted))
    return converted


def _check_replaceable(existing: InstalledModel, source: InstalledModel, to: str, overwrite: bool) -> None:
    """OutputExistsError unless `existing`, the model under the name of `source`'s variant, may be replaced: a
    variant of the same task, with `overwrite`. Any other model of that name never is."""
    made = conversion_of(existing)
    if made is None or existing.task != source.task:
        what = f"{existing.task} model" if existing.task else "model"
        kind = f"a converted {what}" if made else f"a {what} that is not a converted one"
        raise OutputExistsError(
            f"{existing.repo_id} is taken by {kind}, which a conversion of {source.repo_id} never replaces: "
            f"remove it first (`creator-kit models remove {existing.repo_id}`) to convert {source.repo_id} to {to}."
        )
    if not overwrite:
        again = "make it again" if made["source"] == source.repo_id else f"replace {made['source']}'s"
        raise OutputExistsError(f"{existing.repo_id} already exists: pass overwrite=True (--overwrite) to {again}.")


def _write_text(source: Any, folder: Path, to: str, int8: bool, stage: _Stages) -> tuple[dict, tuple[str, ...]]:
    """The text variant of `source` in `folder`: the graph, tokenizer and configurations; its shape and tools."""
    stage("load")
    model, tokenizer = text.load_causal_lm(
        Path(source.path), device="cpu", dtype=torch.float32, use_safetensors=not source.allow_pickle
    )
    with quiet_tools():  # the exporters' and converters' notes, tables and bars about their own work
        stage("export")
        program, shape = export_step(model)
        stage("convert")
        tools = to_openvino(program, folder, int8) if to == "openvino" else to_onnx(program, folder)
    tokenizer.save_pretrained(folder)
    model.config.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    return shape, tools


def _write_pipeline(source: Any, folder: Path, to: str, int8: bool, stage: _Stages) -> tuple[dict, tuple[str, ...]]:
    """The OpenVINO variant of the text-to-image pipeline `source` in `folder` (`convert.pipeline.write`)."""
    if source.allow_pickle:  # a variant loads its torch parts (the text encoder) from safetensors only
        raise InvalidInputError(f"{source.repo_id} has pickle weights: only safetensors pipelines convert.")
    stage("load")
    pipeline = image.open_pipeline(
        "AutoPipelineForText2Image", Path(source.path), dtype=torch.float32, use_safetensors=True, kind="pipeline"
    )
    with quiet_tools(), no_telemetry():
        write_pipeline(pipeline, Path(source.path), folder, on_part=stage)
    return {"pipeline": type(pipeline).__name__}, ("diffusers", "openvino")


class _Stages:
    def __init__(self, on_event: EventCallback | None, names: tuple[str, ...]) -> None:
        self.on_event, self.total, self.done = on_event, len(names), 0

    def __call__(self, name: str) -> None:
        emit(self.on_event, Progress(OPERATION, self.done, self.total, unit="stage", stage=name))
        self.done += 1


def require_variant(store: ModelStore, repo_id: str, backend: str, int8: bool = False) -> str:
    """The id of the installed `backend` variant of `repo_id`, converted from its installed revision; else
    ModelNotInstalledError saying what stands under that name and the command that makes the variant."""
    source = store.get(repo_id)
    check_offered(backend, int8, source.task)
    target = variant_id(source.repo_id, backend, int8)
    missing = f"{source.repo_id} has no {'int8 ' if int8 else ''}{backend} variant"
    command = convert_command(source.repo_id, backend, int8)
    if not store.is_installed(target):
        raise ModelNotInstalledError(f"{missing}: run `{command}`.")
    existing = store.get(target)
    made = conversion_of(existing)
    if made is None or existing.task != source.task:
        kind = f"a converted {existing.task} model" if made else "a model that is not a converted one"
        raise ModelNotInstalledError(
            f"{missing}: {target} is {kind}. Run it by its id, or remove it (`creator-kit models remove {target}`) "
            f"and run `{command}`."
        )
    remake = convert_command(source.repo_id, backend, int8, overwrite=True)
    if made["source"] != source.repo_id:
        raise ModelNotInstalledError(f"{missing}: {target} was converted from {made['source']}. Run `{remake}`.")
    if made.get("revision") != source.commit:
        raise ModelNotInstalledError(
            f"{missing} of its installed revision {source.commit[:12]}: {target} was converted from revision "
            f"{str(made.get('revision'))[:12]}. Run `{remake}`."
        )
    return target
