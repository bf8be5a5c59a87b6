"""Converted variants as the store sees them: their ids, the backends offered for each task, the record a
variant folder carries (`VARIANT_FILE`: its source, revision, backend and shape), and the packages each backend
needs. Making variants is `creator_kit.convert`; running them is `engines.variant_text` / `engines.variant_image`.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

from creator_kit.core.errors import InvalidInputError, MissingExtraError, WrongTaskError
from creator_kit.core.validate import LOCAL_NAMESPACE
from creator_kit.library.catalog import TEXT_GENERATION, TEXT_TO_IMAGE, TEXT_TO_VIDEO

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


def is_variant(folder: Path) -> bool:
    return (Path(folder) / VARIANT_FILE).is_file()


def read_about(folder: Path) -> dict[str, Any]:
    """The record of the variant in `folder` (`VARIANT_FILE`), after checking its backend's packages are here."""
    about = json.loads((Path(folder) / VARIANT_FILE).read_text(encoding="utf-8"))
    require_backend(about["backend"])
    return about


def source_of(installed: Any) -> str | None:
    """The repo id an installed variant was converted from (None for other models)."""
    conversion = (installed.metadata or {}).get("conversion") if hasattr(installed, "metadata") else None
    return conversion["source"] if conversion else None
