"""Converted variants as the store sees them: their ids, the backends offered for each task, the record a
variant folder carries (`VARIANT_FILE`: its source, revision, backend and shape), and the packages each backend
needs. Making variants is `creator_kit.convert`; running them is `engines.variant_text` / `engines.variant_image`.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from creator_kit.core import readers
from creator_kit.core.errors import (
    CreatorKitError,
    IntegrityError,
    InvalidInputError,
    MissingExtraError,
    WrongTaskError,
)
from creator_kit.core.validate import LOCAL_NAMESPACE
from creator_kit.library.catalog import TEXT_GENERATION, TEXT_TO_IMAGE

#: The tasks whose models convert.
CONVERTIBLE = (TEXT_GENERATION, TEXT_TO_IMAGE)
BACKENDS = ("openvino", "onnx")
#: The packages each backend needs (the extra of the same name installs them).
PACKAGES = {"openvino": ("openvino", "nncf"), "onnx": ("onnxruntime", "onnx", "onnxscript")}
GRAPH_FILES = {"openvino": "model.xml", "onnx": "model.onnx"}
VARIANT_FILE = "creator_kit_variant.json"


def variant_id(repo_id: str, backend: str, int8: bool = False) -> str:
    """The store id of `repo_id`'s `backend` variant: ``local/<name>-<backend>`` (``-int8`` after it for int8)."""
    check_backend(backend)
    return f"{LOCAL_NAMESPACE}/{repo_id.split('/')[-1]}-{backend}{'-int8' if int8 else ''}"


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise InvalidInputError(f"Convert to one of {', '.join(BACKENDS)}, not {backend!r}.")
    return backend


def check_offered(backend: str, int8: bool, task: str | None = TEXT_GENERATION) -> None:
    """WrongTaskError for a task that does not convert (video, an autoencoder, an unknown one), or a picture model to
    anything but float OpenVINO; InvalidInputError for a variant measured no faster than what it would replace
    (benchmarks/RESULTS.md)."""
    if task not in CONVERTIBLE:
        kind = f"{task.capitalize()} models" if task else "Models of no known task"
        raise WrongTaskError(f"{kind} do not convert: text-generation and text-to-image models do.")
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


def is_variant(folder: Path) -> bool:
    return (Path(folder) / VARIANT_FILE).is_file()


def read_about(folder: Path) -> dict[str, Any]:
    """The record of the variant in `folder` (`VARIANT_FILE`), after checking its backend's packages are here; a
    record that does not read is IntegrityError naming it."""
    path = Path(folder) / VARIANT_FILE
    try:
        about = readers.read_json(path, what="variant record")
    except CreatorKitError:
        about = None
    if not (isinstance(about, dict) and isinstance(about.get("source"), str) and about.get("backend") in BACKENDS):
        remake = convert_command("SOURCE", "BACKEND", overwrite=True)
        raise IntegrityError(f"The variant record {path} is damaged: make the variant again (`{remake}`).")
    require_backend(about["backend"])
    return about


def conversion_of(installed: Any) -> dict[str, Any] | None:
    """What the store records of an installed variant's making (source, revision, backend, int8...); None for any
    other model."""
    made = (installed.metadata or {}).get("conversion")
    whole = isinstance(made, dict) and isinstance(made.get("source"), str) and made.get("backend") in BACKENDS
    return made if whole else None


def convert_command(source: str, backend: str, int8: bool = False, *, overwrite: bool = False) -> str:
    """The command that makes `source`'s `backend` variant (again, replacing it, with `overwrite`)."""
    flags = (" --int8" if int8 else "") + (" --overwrite" if overwrite else "")
    return f"creator-kit models convert {source} --to {backend}{flags}"


def remake_command(about: dict[str, Any]) -> str:
    """The command that makes again, replacing it, the variant whose record is `about`."""
    return convert_command(about["source"], about["backend"], bool(about.get("int8")), overwrite=True)


def damaged(path: Path, about: dict[str, Any]) -> IntegrityError:
    """The error for a graph `path` of the variant `about` describes that does not read or compile."""
    return IntegrityError(
        f"The converted graph {path} does not load: it is damaged. To repair it, run `{remake_command(about)}`."
    )
