"""Creator Kit: a local, open-source generative AI workbench for Jupyter.

This module is the public API: `import creator_kit as ck`, then ``ck.text.generate(...)``, ``ck.ModelStore()``,
``ck.train.train(config)`` and the rest of `__all__`. Importing it is cheap: torch, transformers and diffusers
load only when a model does. The panels in `widgets` use only what this module exports.

The package is laid out by responsibility, in layers that import only downwards (docs/ARCHITECTURE.md): `cli`;
`workflows`, `starters` and `lab`; `train` and `convert`; `engines`; `library`; `core`.
"""

import importlib
from typing import Any

from creator_kit.core import files, text_fit, validate
from creator_kit.core.bugs import report_bug
from creator_kit.core.config import Settings, configure, get_settings, locate
from creator_kit.core.errors import (
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
from creator_kit.core.events import Done, Eta, Event, EventCallback, Log, Metric, Preview, Progress, TqdmReporter
from creator_kit.core.words import counted, with_article
from creator_kit.engines import text_params
from creator_kit.engines.text_params import GenerationParams
from creator_kit.library.cache import InstalledModel, VerifyReport
from creator_kit.library.catalog import TASKS, TEXT_GENERATION, TEXT_TO_IMAGE, TEXT_TO_VIDEO, CatalogEntry
from creator_kit.library.sizing import ModelInfo, human_size
from creator_kit.library.store import ModelStore, StoreChange

__version__ = "0.1.0"

#: Public names whose modules import torch or transformers: loaded on first use, so `import creator_kit` stays light.
_LAZY = {
    "text": ("creator_kit.engines.text", None),
    "image": ("creator_kit.engines.image", None),
    "train": ("creator_kit.train", None),
    "starters": ("creator_kit.starters", None),
    "build_starters": ("creator_kit.starters", "build_starters"),
    "SetupBars": ("creator_kit.starters", "SetupBars"),
    "choose_models": ("creator_kit.starters", "choose_models"),
    "TrainingConfig": ("creator_kit.train", "TrainingConfig"),
    "TrainingResult": ("creator_kit.train", "TrainingResult"),
    "reproduce": ("creator_kit.engines.tasks", "reproduce"),
    "load_installed": ("creator_kit.engines.tasks", "load_installed"),
    "Reproduction": ("creator_kit.engines.manifest", "Reproduction"),
    "ImageResult": ("creator_kit.engines.image", "ImageResult"),
    "video": ("creator_kit.engines.video", None),
    "storyboard": ("creator_kit.engines.storyboard", None),
    "compare": ("creator_kit.workflows.compare", None),
    "companions": ("creator_kit.engines.companions", None),
    "arena": ("creator_kit.workflows.arena", None),
    "queue": ("creator_kit.workflows.queue", None),
    "bench": ("creator_kit.workflows.bench", None),
    "VideoResult": ("creator_kit.engines.video", "VideoResult"),
    "runtime": ("creator_kit.engines.runtime", None),
    "manifest": ("creator_kit.engines.manifest", None),
    "outputs": ("creator_kit.workflows.outputs", None),
    "Output": ("creator_kit.workflows.outputs", "Output"),
    "generate": ("creator_kit.engines.text", "generate"),
    "stream": ("creator_kit.engines.text", "stream"),
    "TextResult": ("creator_kit.engines.text", "TextResult"),
    "LoadedModel": ("creator_kit.engines.runtime", "LoadedModel"),
    "Manifest": ("creator_kit.engines.manifest", "Manifest"),
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
    "Output",
    "OutputExistsError",
    "Preview",
    "Progress",
    "RemoteCodeError",
    "Reproduction",
    "Settings",
    "SetupBars",
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
    "counted",
    "files",
    "generate",
    "get_settings",
    "human_size",
    "image",
    "load_installed",
    "locate",
    "manifest",
    "outputs",
    "queue",
    "report_bug",
    "reproduce",
    "runtime",
    "starters",
    "storyboard",
    "stream",
    "text",
    "text_fit",
    "text_params",
    "train",
    "validate",
    "video",
    "with_article",
]
