"""Creator Kit: a local, open-source generative AI workbench for Jupyter.

Importing this package is cheap: torch, transformers and diffusers load only when a model does.
"""

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
    UnsafeWeightsError,
    WrongTaskError,
)
from creator_kit.events import Done, Event, EventCallback, Log, Metric, Preview, Progress, TqdmReporter
from creator_kit.fit import ModelInfo
from creator_kit.store import InstalledModel, ModelStore, VerifyReport

__version__ = "0.1.0"

__all__ = [
    "TASKS",
    "CancelledError",
    "CatalogEntry",
    "CreatorKitError",
    "Done",
    "Event",
    "EventCallback",
    "InstalledModel",
    "InsufficientDiskError",
    "IntegrityError",
    "InvalidInputError",
    "InvalidRepoIdError",
    "Log",
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
    "TqdmReporter",
    "UnsafeWeightsError",
    "VerifyReport",
    "WrongTaskError",
    "__version__",
    "configure",
    "get_settings",
]
