"""The curated catalog of open models, read from ``catalog.json`` beside this file.

Its ``models`` are generators, one task each (TASKS). Its ``companions`` serve them and make nothing on their
own (COMPANION_TASKS): a tiny autoencoder (TAESD) decodes the latents of the diffusion models whose latent
space, its `latent_family`, it was trained on (`creator_kit.engines.companions`). Pickers and comparisons list models
by TASKS, so companions never appear there as generators.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from creator_kit.core.errors import InvalidInputError

TASKS = ("text-generation", "text-to-image", "text-to-video")
TEXT_GENERATION, TEXT_TO_IMAGE, TEXT_TO_VIDEO = TASKS
COMPANION_TASKS = ("autoencoder",)
(AUTOENCODER,) = COMPANION_TASKS
CATALOG_FILE = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class CatalogEntry:
    """One curated model: what it does, how big it is and under which licence."""

    repo_id: str
    task: str
    name: str
    parameters: int
    size_bytes: int
    dtype: str
    license: str
    description: str
    chat: bool = False
    #: Generation settings this model is meant to run with where the user sets none (`model_defaults`).
    defaults: dict[str, Any] = field(default_factory=dict, hash=False)
    latent_family: str = ""  # a companion: the latent space it decodes ("sd": SD 1.x/2.x, "sdxl"); else ""

    def to_dict(self) -> dict:
        return asdict(self)


@cache
def load_catalog() -> tuple[CatalogEntry, ...]:
    """Every catalog entry, in the file's order."""
    data = json.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    return tuple(CatalogEntry(**entry) for entry in data["models"])


@cache
def load_companions() -> tuple[CatalogEntry, ...]:
    """Every companion entry (models that serve generators, e.g. tiny autoencoders), in the file's order."""
    data = json.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    return tuple(CatalogEntry(**entry) for entry in data.get("companions", []))


def check_task(task: str) -> str:
    """`task` if it is one Creator Kit knows, else an InvalidInputError listing the known ones."""
    if task not in (*TASKS, *COMPANION_TASKS):
        raise InvalidInputError(f"Unknown task {task!r}. Known tasks: {', '.join((*TASKS, *COMPANION_TASKS))}.")
    return task


def catalog_entries(task: str | None = None) -> list[CatalogEntry]:
    """Catalog entries, all generators or those of one task (a companion task: its companions)."""
    if task is None:
        return list(load_catalog())
    check_task(task)
    return [entry for entry in (*load_catalog(), *load_companions()) if entry.task == task]


def catalog_entry(repo_id: str) -> CatalogEntry | None:
    """The catalog entry of `repo_id` (a generator or a companion), or None when it is not curated."""
    return next((entry for entry in (*load_catalog(), *load_companions()) if entry.repo_id == repo_id), None)


def model_defaults(repo_id: str) -> dict[str, Any]:
    """The catalog's generation defaults for `repo_id` (a copy; empty for a model not in the catalog).

    Image: steps, guidance, width, height, scheduler. Video: frames, fps, steps, guidance, width, height.
    Text: GenerationParams fields. The engines apply them wherever the user gives no value; an explicit value
    always wins, and the manifest records the values used, so reproducing does not depend on the catalog.
    """
    entry = catalog_entry(repo_id)
    return dict(entry.defaults) if entry is not None else {}
