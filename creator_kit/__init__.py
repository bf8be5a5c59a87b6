"""Creator Kit: a local, open-source generative AI workbench for Jupyter.

Importing this package is cheap: torch, transformers and diffusers load only when a model does.
The panels in `widgets` use only what this module exports.
"""

import importlib
from typing import Any

from creator_kit import files, text_params, validate
from creator_kit.cache import InstalledModel, VerifyReport
from creator_kit.catalog import TASKS, TEXT_GENERATION, TEXT_TO_IMAGE, TEXT_TO_VIDEO, CatalogEntry
from creator_kit.config import Settings, configure, get_settings
from creator_kit.errors import (
    CancelledError,
    CreatorKitError,
    InsufficientDiskError,
    IntegrityError,
    InvalidInputError,
    InvalidRepoIdError,
    ModelNotFoundError,
    ModelNotInstalledError,
    NetworkError,
    OfflineError,
    OutputExistsError,
    RemoteCodeError,
    TrainingDivergedError,
    UnsafeModelError,
    UnsafeWeightsError,
    UnwritablePathError,
    WrongTaskError,
)
from creator_kit.events import Done, Eta, Event, EventCallback, Log, Metric, Preview, Progress, TqdmReporter
from creator_kit.sizing import ModelInfo, human_size
from creator_kit.store import ModelStore, StoreChange
from creator_kit.text_params import GenerationParams

__version__ = "0.1.0"

#: Public names whose modules import torch or transformers: loaded on first use, so `import creator_kit` stays light.
_LAZY = {
    "text": ("creator_kit.text", None),
    "image": ("creator_kit.image", None),
    "train": ("creator_kit.train", None),
    "build_starters": ("creator_kit.starter", "build_starters"),
    "choose_models": ("creator_kit.starter", "choose_models"),
    "TrainingConfig": ("creator_kit.train", "TrainingConfig"),
    "TrainingResult": ("creator_kit.train", "TrainingResult"),
    "reproduce": ("creator_kit.manifest", "reproduce"),
    "Reproduction": ("creator_kit.manifest", "Reproduction"),
    "ImageResult": ("creator_kit.image", "ImageResult"),
    "video": ("creator_kit.video", None),
    "storyboard": ("creator_kit.storyboard", None),
    "compare": ("creator_kit.compare", None),
    "companions": ("creator_kit.companions", None),
    "arena": ("creator_kit.arena", None),
    "queue": ("creator_kit.queue", None),
    "bench": ("creator_kit.bench", None),
    "VideoResult": ("creator_kit.video", "VideoResult"),
    "runtime": ("creator_kit.runtime", None),
    "manifest": ("creator_kit.manifest", None),
    "outputs": ("creator_kit.outputs", None),
    "generate": ("creator_kit.text", "generate"),
    "stream": ("creator_kit.text", "stream"),
    "TextResult": ("creator_kit.text", "TextResult"),
    "LoadedModel": ("creator_kit.runtime", "LoadedModel"),
    "Manifest": ("creator_kit.manifest", "Manifest"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'creator_kit' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


__all__ = [
    "TASKS",
    "TEXT_GENERATION",
    "TEXT_TO_IMAGE",
    "TEXT_TO_VIDEO",
    "CancelledError",
    "CatalogEntry",
    "CreatorKitError",
    "Done",
    "Eta",
    "Event",
    "EventCallback",
    "GenerationParams",
    "ImageResult",
    "InstalledModel",
    "InsufficientDiskError",
    "IntegrityError",
    "InvalidInputError",
    "InvalidRepoIdError",
    "LoadedModel",
    "Log",
    "Manifest",
    "Metric",
    "ModelInfo",
    "ModelNotFoundError",
    "ModelNotInstalledError",
    "ModelStore",
    "NetworkError",
    "OfflineError",
    "OutputExistsError",
    "Preview",
    "Progress",
    "RemoteCodeError",
    "Reproduction",
    "Settings",
    "StoreChange",
    "TextResult",
    "TqdmReporter",
    "TrainingConfig",
    "TrainingDivergedError",
    "TrainingResult",
    "UnsafeModelError",
    "UnsafeWeightsError",
    "UnwritablePathError",
    "VerifyReport",
    "VideoResult",
    "WrongTaskError",
    "__version__",
    "arena",
    "bench",
    "build_starters",
    "choose_models",
    "companions",
    "compare",
    "configure",
    "files",
    "generate",
    "get_settings",
    "human_size",
    "image",
    "manifest",
    "outputs",
    "queue",
    "reproduce",
    "runtime",
    "storyboard",
    "stream",
    "text",
    "text_params",
    "train",
    "validate",
    "video",
]
