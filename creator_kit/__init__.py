"""Creator Kit: a local, open-source generative AI workbench for Jupyter.

Importing this package is cheap: torch, transformers and diffusers load only when a model does.
"""

import importlib
from typing import Any

from creator_kit.catalog import TASKS, CatalogEntry
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
    TrainingDivergedError,
    UnsafeWeightsError,
    WrongTaskError,
)
from creator_kit.events import Done, Event, EventCallback, Log, Metric, Preview, Progress, TqdmReporter
from creator_kit.fit import ModelInfo
from creator_kit.store import InstalledModel, ModelStore, VerifyReport, human_size

__version__ = "0.1.0"

#: Public names whose modules import torch or transformers: loaded on first use, so `import creator_kit` stays light.
_LAZY = {
    "text": ("creator_kit.text", None),
    "image": ("creator_kit.image", None),
    "train": ("creator_kit.train", None),
    "build_starters": ("creator_kit.starter", "build_starters"),
    "choose_models": ("creator_kit.starter", "choose_models"),
    "TrainingConfig": ("creator_kit.train", "TrainingConfig"),
    "ImageResult": ("creator_kit.image", "ImageResult"),
    "video": ("creator_kit.video", None),
    "VideoResult": ("creator_kit.video", "VideoResult"),
    "runtime": ("creator_kit.runtime", None),
    "manifest": ("creator_kit.manifest", None),
    "generate": ("creator_kit.text", "generate"),
    "stream": ("creator_kit.text", "stream"),
    "GenerationParams": ("creator_kit.text", "GenerationParams"),
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
    "CancelledError",
    "CatalogEntry",
    "CreatorKitError",
    "Done",
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
    "Preview",
    "Progress",
    "Settings",
    "TextResult",
    "TqdmReporter",
    "TrainingConfig",
    "TrainingDivergedError",
    "UnsafeWeightsError",
    "VerifyReport",
    "VideoResult",
    "WrongTaskError",
    "__version__",
    "build_starters",
    "choose_models",
    "configure",
    "generate",
    "get_settings",
    "human_size",
    "image",
    "manifest",
    "runtime",
    "stream",
    "text",
    "video",
]
