"""The curated catalog of open models, read from ``catalog.json`` beside this file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from creator_kit.errors import InvalidInputError

TASKS = ("text-generation", "text-to-image", "text-to-video")
TEXT_GENERATION, TEXT_TO_IMAGE, TEXT_TO_VIDEO = TASKS
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

    def to_dict(self) -> dict:
        return asdict(self)


@cache
def load_catalog() -> tuple[CatalogEntry, ...]:
    """Every catalog entry, in the file's order."""
    data = json.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    return tuple(CatalogEntry(**entry) for entry in data["models"])


def check_task(task: str) -> str:
    """`task` if it is one Creator Kit knows, else an InvalidInputError listing the known ones."""
    if task not in TASKS:
        raise InvalidInputError(f"Unknown task {task!r}. Known tasks: {', '.join(TASKS)}.")
    return task


def catalog_entries(task: str | None = None) -> list[CatalogEntry]:
    """Catalog entries, all or those of one task."""
    if task is None:
        return list(load_catalog())
    check_task(task)
    return [entry for entry in load_catalog() if entry.task == task]


def catalog_entry(repo_id: str) -> CatalogEntry | None:
    """The catalog entry of `repo_id`, or None when it is not curated."""
    return next((entry for entry in load_catalog() if entry.repo_id == repo_id), None)
