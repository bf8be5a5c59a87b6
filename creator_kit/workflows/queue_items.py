"""A queue file read into a plan of items, and one item run into the queue's folder: what both runners (here
and on Ray, `queue_ray`) share. The format is in `workflows.queue`."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creator_kit.core import files, readers, validate
from creator_kit.core.config import get_settings
from creator_kit.core.errors import CancelledError, InvalidInputError, WrongTaskError
from creator_kit.library.catalog import TEXT_GENERATION, TEXT_TO_IMAGE
from creator_kit.library.store import ModelStore
from creator_kit.workflows.compare import run_one

TASKS = {"text": TEXT_GENERATION, "image": TEXT_TO_IMAGE}
KEYS = ("task", "models", "prompts", "grid", "params", "seed", "output")
MAX_MODELS, MAX_PROMPTS, MAX_ITEMS = 6, 100, 1000
MAX_QUEUE_BYTES = 1024**2  # a queue file: models, prompts (20,000 characters at most each) and a grid


@dataclass(frozen=True)
class QueueItem:
    """One model on one prompt with one combination of the grid (`values`: the grid's values of this item)."""

    id: str
    model: str
    prompt: str
    values: dict[str, Any]
    params: dict[str, Any]  # fixed params and grid values together, without the seed
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "model", "prompt", "values", "params", "seed")}


@dataclass
class Plan:
    """A validated queue file, expanded: its task, its items in run order, and the folder of their outputs."""

    source: Path
    task: str  # text-generation | text-to-image
    models: list[str]
    prompts: list[str]
    grid: dict[str, list[Any]]
    folder: Path
    items: list[QueueItem]

    def done(self) -> set[str]:
        """The ids of the items finished on disk: a done record, and the output it names."""
        finished = set()
        for item in self.items:
            record = files.read_json(self.folder / "done" / f"{item.id}.json")
            if record.get("id") == item.id and (self.folder / str(record.get("output", ""))).is_file():
                finished.add(item.id)
        return finished


def read(path: str | Path) -> dict[str, Any]:
    """The object in a queue file (JSON; YAML for .yaml / .yml), read through `core.readers`, or InvalidInputError."""
    data = readers.read_object(path, what="queue file", limit=MAX_QUEUE_BYTES)
    if not data:
        raise InvalidInputError(f"The queue file {path} is empty: see the format in `creator_kit.queue`.")
    return data


def load(path: str | Path, store: ModelStore | None = None) -> Plan:
    """The queue in `path`, validated and expanded, or one error saying what is wrong: before any model loads."""
    path = Path(path)
    data = read(path)
    validate.known_keywords(data, KEYS, "queue key")
    missing = [key for key in ("task", "models", "prompts") if key not in data]
    if missing:
        raise InvalidInputError(f"{path} needs {', '.join(missing)}: see the format in `creator_kit.queue`.")
    kind = validate.choice("task", data["task"], TASKS)
    models = _strings("models", data["models"], MAX_MODELS, validate.repo_id)
    prompts = _strings("prompts", data["prompts"], MAX_PROMPTS, validate.prompt)
    store = store or ModelStore()
    tasks = {model: store.get(model).task for model in models}  # ModelNotInstalledError names the missing one
    wrong = {model: task for model, task in tasks.items() if task != TASKS[kind]}
    if wrong:
        described = ", ".join(f"{model} ({task})" for model, task in wrong.items())
        raise WrongTaskError(f"The queue's task is {kind} ({TASKS[kind]}), but not these models: {described}.")
    grid, params = _grid(data.get("grid", {}), data.get("params", {}), kind)
    seed = validate.seed(data.get("seed", 0))
    if seed is None:
        raise InvalidInputError("A queue's seed must be a whole number (a fixed seed makes the items resumable).")
    items = _expand(TASKS[kind], models, prompts, grid, params, seed)
    return Plan(path, TASKS[kind], models, prompts, grid, _folder(path, data.get("output")), items)


def _strings(name: str, value: Any, most: int, check: Callable[[Any], str]) -> list[str]:
    """`value` as a list of 1 to `most` distinct strings, each passing `check`."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not 1 <= len(value) <= most:
        raise InvalidInputError(f"The queue's {name} must be a list of 1 to {most}, not {value!r}."[:300])
    return list(dict.fromkeys(check(item) for item in value))


def _grid(grid: Any, params: Any, kind: str) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """The grid (names to non-empty lists of distinct values) and the fixed params, checked against the engine's."""
    if not isinstance(grid, dict) or not isinstance(params, dict):
        raise InvalidInputError('grid and params are objects, e.g. "grid": {"steps": [2, 4]}, "params": {"width": 64}.')
    known = _known(kind)
    validate.known_keywords(grid, known, f"{kind} grid parameter")
    validate.known_keywords(params, [name for name in known if name != "seed"], f"{kind} parameter")
    for name, values in grid.items():
        if isinstance(values, list) and len(values) > MAX_ITEMS:
            raise InvalidInputError(
                f"grid {name} has {len(values):,} values; a queue holds {MAX_ITEMS:,} items at most."
            )
        distinct = isinstance(values, list) and len(values) == len({json.dumps(v, default=str) for v in values})
        if not values or not distinct:
            raise InvalidInputError(f"grid {name} must be a non-empty list of distinct values, not {values!r}."[:300])
    both = sorted(set(grid) & set(params))
    if both:
        raise InvalidInputError(f"{', '.join(both)} is in both grid and params: give each parameter once.")
    return grid, params


def _known(kind: str) -> list[str]:
    if kind == "text":
        from creator_kit.engines.text_params import PARAMETER_NAMES

        return ["preset", *PARAMETER_NAMES]
    from creator_kit.engines.image import ImageParams

    return [name for name in ImageParams.__dataclass_fields__ if name not in ("prompt", "batch")]


def _expand(
    task: str, models: list[str], prompts: list[str], grid: dict[str, list[Any]], params: dict[str, Any], seed: int
) -> list[QueueItem]:
    """Every model × prompt × grid combination as an item (each combination's parameters checked by its engine)."""
    total = len(models) * len(prompts) * math.prod(len(values) for values in grid.values())  # before expanding
    if total > MAX_ITEMS:
        raise InvalidInputError(f"The queue expands to {total:,} items; at most {MAX_ITEMS:,} run in one queue.")
    combinations = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    items = []
    for model, prompt, values in itertools.product(models, prompts, combinations):
        merged = {**params, **values}
        item_seed = validate.seed(merged.pop("seed", seed))
        _check_params(task, prompt, merged, item_seed)
        key = json.dumps([task, model, prompt, merged, item_seed], sort_keys=True)
        item_id = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        items.append(QueueItem(item_id, model, prompt, values, merged, item_seed))
    return items


def _check_params(task: str, prompt: str, params: dict[str, Any], seed: int | None) -> None:
    if task == TEXT_GENERATION:
        from creator_kit.engines.text_params import resolve_params

        options = dict(params)
        resolve_params(options.pop("preset", "balanced"), seed=seed, **options)
    else:
        from creator_kit.engines import image

        image.check_params(image.ImageParams(prompt=prompt, seed=seed, **params))


def _folder(source: Path, output: Any) -> Path:
    if output is None:
        return get_settings().outputs_dir / f"queue-{source.stem}"
    if not isinstance(output, str) or not output.strip():
        raise InvalidInputError(f"output must be a folder path, not {output!r}.")
    folder = Path(output).expanduser()
    folder = (folder if folder.is_absolute() else source.parent.absolute() / folder).resolve()
    allowed = (get_settings().outputs_dir.resolve(), source.parent.resolve())
    if not any(folder.is_relative_to(root) for root in allowed):
        raise InvalidInputError(
            f"A queue writes inside the outputs folder or beside its file, not in {folder}: change its output."
        )
    return folder


def run_item(task: str, item: QueueItem, folder: Path, cancel: threading.Event | None = None) -> dict[str, Any]:
    """Run `item` into `folder` (what an earlier, torn try left of it removed first): its output with the manifest,
    then its done record, written last; returns the record."""
    torn = [*folder.glob(f"{item.id}.*"), *folder.glob(f".{item.id}.*"), *folder.glob(f"done/.{item.id}.*")]
    for leftover in torn:  # what a try killed half-way left: its output, manifest, partial files
        leftover.unlink(missing_ok=True)
    result = run_one(task, item.model, item.prompt, item.seed, folder / item.id, cancel, dict(item.params))
    if cancel is not None and cancel.is_set():  # a text cut short by cancel: not done, so it is redone next time
        raise CancelledError(f"Cancelled during item {item.id}.")
    record = dict(item.to_dict(), output=result.path.name, metrics=result.metrics)
    files.write_json(folder / "done" / f"{item.id}.json", record)
    return record
