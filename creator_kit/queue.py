"""A queue of prompts × models × a parameter grid, run item after item, resumed after a restart or a kill.

    queue.status("foxes.json")                       # done / pending / total, per item, running nothing
    done = queue.run("foxes.json", on_event=TqdmReporter())
    done.sheet                                       # image queues: the contact sheet, labelled by axis values

The queue file is JSON (or YAML, when PyYAML is installed), one object::

    {"task": "image",                        # "text" or "image"
     "models": ["local/starter-image"],      # 1 to 6 installed models of that task
     "prompts": ["a red fox", "a lighthouse"],
     "grid": {"steps": [2, 4], "guidance": [1, 5]},   # optional: every combination of these values
     "params": {"width": 64},                # optional: the same for every item
     "seed": 0,                              # optional (default 0); "seed" may be a grid axis too
     "output": "outputs/foxes"}              # optional: relative to the file's folder (default outputs/queue-<name>)

Every model runs every prompt with every combination of the grid: each item has a stable id (a hash of its
model, prompt, parameters and seed), its output ``<id>.txt`` / ``<id>.png`` saved with its manifest, and
``done/<id>.json``, written last and atomically, once it is whole. Running again skips the items whose done
record and output are there and redoes the others (a half-written one included). `cancel` stops between
items (and inside one); what was finished is kept.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from creator_kit import files, validate
from creator_kit.catalog import TEXT_GENERATION, TEXT_TO_IMAGE
from creator_kit.config import get_settings
from creator_kit.errors import CancelledError, InvalidInputError, WrongTaskError
from creator_kit.events import Eta, EventCallback, Log, Metric, Preview, Progress, emit
from creator_kit.store import ModelStore

OPERATION = "queue"
TASKS = {"text": TEXT_GENERATION, "image": TEXT_TO_IMAGE}
KEYS = ("task", "models", "prompts", "grid", "params", "seed", "output")
MAX_MODELS, MAX_PROMPTS, MAX_ITEMS = 6, 100, 1000
SHEET = "sheet.png"


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


@dataclass
class QueueStatus:
    """Where a queue stands: each item's state (done or pending), and the counts."""

    folder: Path
    items: list[dict[str, Any]]
    done: int
    pending: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        counts = {"done": self.done, "pending": self.pending, "total": self.total}
        return {"folder": str(self.folder), "items": self.items, **counts}


@dataclass
class QueueRun:
    """A finished run: every item's done record (in queue order), which ran now and which were done already."""

    folder: Path
    records: list[dict[str, Any]]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    sheet: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "items": self.records,
            "ran": self.ran,
            "skipped": self.skipped,
            "sheet": str(self.sheet) if self.sheet else None,
        }


def read(path: str | Path) -> dict[str, Any]:
    """The object in a queue file (JSON; YAML for .yaml / .yml when PyYAML is installed), or InvalidInputError."""
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Cannot read the queue file {path}: {exc}") from exc
    if not content.strip():
        raise InvalidInputError(f"The queue file {path} is empty: see the format in `creator_kit.queue`.")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise InvalidInputError(f"{path} is YAML, which needs PyYAML: pip install pyyaml (or use JSON).") from exc
        try:
            data = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{path} is not valid YAML: {exc}".splitlines()[0]) from exc
    else:
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{path} must hold one object with task, models and prompts, not {type(data).__name__}."
        )
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
        distinct = isinstance(values, list) and len(values) == len({json.dumps(v, default=str) for v in values})
        if not values or not distinct:
            raise InvalidInputError(f"grid {name} must be a non-empty list of distinct values, not {values!r}."[:300])
    both = sorted(set(grid) & set(params))
    if both:
        raise InvalidInputError(f"{', '.join(both)} is in both grid and params: give each parameter once.")
    return grid, params


def _known(kind: str) -> list[str]:
    if kind == "text":
        from creator_kit.text_params import PARAMETER_NAMES

        return ["preset", *PARAMETER_NAMES]
    from creator_kit.image import ImageParams

    return [name for name in ImageParams.__dataclass_fields__ if name not in ("prompt", "batch")]


def _expand(
    task: str, models: list[str], prompts: list[str], grid: dict[str, list[Any]], params: dict[str, Any], seed: int
) -> list[QueueItem]:
    """Every model × prompt × grid combination as an item (each combination's parameters checked by its engine)."""
    combinations = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    total = len(models) * len(prompts) * len(combinations)
    if total > MAX_ITEMS:
        raise InvalidInputError(f"The queue expands to {total:,} items; at most {MAX_ITEMS:,} run in one queue.")
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
        from creator_kit.text_params import resolve_params

        options = dict(params)
        resolve_params(options.pop("preset", "balanced"), seed=seed, **options)
    else:
        from creator_kit import image

        image.check_params(image.ImageParams(prompt=prompt, seed=seed, **params))


def _folder(source: Path, output: Any) -> Path:
    if output is None:
        return get_settings().outputs_dir / f"queue-{source.stem}"
    if not isinstance(output, str) or not output.strip():
        raise InvalidInputError(f"output must be a folder path, not {output!r}.")
    folder = Path(output).expanduser()
    return folder if folder.is_absolute() else source.parent.absolute() / folder


def status(path: str | Path, store: ModelStore | None = None) -> QueueStatus:
    """Each item of the queue in `path` and whether it is done or pending; runs nothing."""
    plan = load(path, store)
    done = plan.done()
    items = [dict(item.to_dict(), state="done" if item.id in done else "pending") for item in plan.items]
    return QueueStatus(plan.folder, items, len(done), len(plan.items) - len(done), len(plan.items))


def run(
    path: str | Path,
    *,
    store: ModelStore | None = None,
    ray_address: str | None = None,
    cancel: threading.Event | None = None,
    on_event: EventCallback | None = None,
) -> QueueRun:
    """Run the pending items of the queue in `path`, one after the other (or one Ray task each on the cluster at
    `ray_address`). Progress counts items over the whole queue, with Metric ``elapsed_s`` and ``eta_s``; each
    finished item arrives as a Preview whose value is its done record. CancelledError once `cancel` is set."""
    from filelock import FileLock, Timeout

    store = store or ModelStore()
    plan = load(path, store)
    cancel = cancel or threading.Event()
    files.require_writable_folder(plan.folder / "done")
    lock = FileLock(plan.folder / ".queue.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise InvalidInputError(f"The queue {plan.source} is running already (in {plan.folder}).") from exc
    try:
        return _run(plan, store, ray_address, cancel, on_event)
    finally:
        lock.release()


def _run(
    plan: Plan, store: ModelStore, ray_address: str | None, cancel: threading.Event, on_event: EventCallback | None
) -> QueueRun:
    done = plan.done()
    pending = [item for item in plan.items if item.id not in done]
    total, started = len(plan.items), time.perf_counter()
    if done:
        emit(on_event, Log(OPERATION, f"{len(done)} of {total} items are done already: skipping them."))
    emit(on_event, Progress(OPERATION, len(done), total, unit="item"))
    eta, finished = Eta(len(done)), len(done)

    def after(record: dict[str, Any]) -> None:
        nonlocal finished
        finished += 1
        emit(on_event, Preview(OPERATION, finished, record))
        emit(on_event, Progress(OPERATION, finished, total, unit="item"))
        left = eta.update(finished, total)
        if left is not None:
            emit(on_event, Metric(OPERATION, finished, {"elapsed_s": time.perf_counter() - started, "eta_s": left}))

    if ray_address is not None:
        from creator_kit.queue_ray import run_on_ray

        run_on_ray(plan, pending, ray_address, store.models_dir, cancel, after)
    else:
        for item in pending:
            try:
                if cancel.is_set():
                    raise CancelledError
                after(run_item(plan.task, item, plan.folder, cancel))
            except CancelledError as exc:
                raise CancelledError(
                    f"Queue cancelled with {finished} of {total} items done; run it again to finish it."
                ) from exc
    records = [files.read_json(plan.folder / "done" / f"{item.id}.json") for item in plan.items]
    sheet = _sheet(plan, records) if plan.task == TEXT_TO_IMAGE else None
    return QueueRun(
        plan.folder, records, [item.id for item in pending], [item.id for item in plan.items if item.id in done], sheet
    )


def run_item(task: str, item: QueueItem, folder: Path, cancel: threading.Event | None = None) -> dict[str, Any]:
    """Run `item` into `folder` (what an earlier, torn try left of it removed first): its output with the manifest,
    then its done record, written last; returns the record."""
    from creator_kit.compare import run_one

    torn = [*folder.glob(f"{item.id}.*"), *folder.glob(f".{item.id}.*"), *folder.glob(f"done/.{item.id}.*")]
    for leftover in torn:  # what a try killed half-way left: its output, manifest, partial files
        leftover.unlink(missing_ok=True)
    result = run_one(task, item.model, item.prompt, item.seed, folder / item.id, cancel, dict(item.params))
    if cancel is not None and cancel.is_set():  # a text cut short by cancel: not done, so it is redone next time
        raise CancelledError(f"Cancelled during item {item.id}.")
    record = dict(item.to_dict(), output=result.path.name, metrics=result.metrics)
    files.write_json(folder / "done" / f"{item.id}.json", record)
    return record


def _sheet(plan: Plan, records: list[dict[str, Any]]) -> Path:
    """The contact sheet of an image queue: every item in queue order, the last varying axis along the columns,
    each cell labelled with the values of the axes that vary (model, prompt number, grid values)."""
    from PIL import Image

    from creator_kit.image import axis_label, contact_sheet

    axes = {"model": plan.models, "prompt": [f"#{n + 1}" for n in range(len(plan.prompts))], **plan.grid}
    varying = [name for name, values in axes.items() if len(values) > 1] or ["model"]
    columns = len(axes[varying[-1]])
    labels, pictures = [], []
    for item, record in zip(plan.items, records, strict=True):
        values = {"model": item.model.split("/")[-1], "prompt": f"#{plan.prompts.index(item.prompt) + 1}"}
        labels.append(axis_label({name: {**values, **item.values}[name] for name in varying}))
        with Image.open(plan.folder / record["output"]) as picture:
            pictures.append(picture.convert("RGB"))
    path = plan.folder / SHEET
    with files.atomic_path(path) as partial:
        contact_sheet(pictures, labels, columns).save(partial, format="PNG")
    return path
