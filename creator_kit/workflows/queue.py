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

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from creator_kit.core import files, readers
from creator_kit.core.errors import CancelledError, InvalidInputError, OutputExistsError
from creator_kit.core.events import Eta, EventCallback, Log, Metric, Preview, Progress, emit
from creator_kit.library.catalog import TEXT_TO_IMAGE
from creator_kit.library.store import ModelStore
from creator_kit.workflows.queue_items import Plan, load, run_item
from creator_kit.workflows.queue_ray import run_on_ray

OPERATION = "queue"
SHEET = "sheet.png"
SHEET_KEY = "creator-kit-queue"  # the PNG text chunk that marks a contact sheet as a queue's own


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
    if plan.task == TEXT_TO_IMAGE:
        _claim_sheet(plan.folder / SHEET)  # before any work: never over a sheet.png of the user's own
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


def _sheet(plan: Plan, records: list[dict[str, Any]]) -> Path:
    """The contact sheet of an image queue: every item in queue order, the last varying axis along the columns,
    each cell labelled with the values of the axes that vary (model, prompt number, grid values)."""
    from PIL.PngImagePlugin import PngInfo

    from creator_kit.engines.image import axis_label, contact_sheet

    axes = {"model": plan.models, "prompt": [f"#{n + 1}" for n in range(len(plan.prompts))], **plan.grid}
    varying = [name for name, values in axes.items() if len(values) > 1] or ["model"]
    columns = len(axes[varying[-1]])
    labels, pictures = [], []
    for item, record in zip(plan.items, records, strict=True):
        values = {"model": item.model.split("/")[-1], "prompt": f"#{plan.prompts.index(item.prompt) + 1}"}
        labels.append(axis_label({name: {**values, **item.values}[name] for name in varying}))
        with readers.open_picture(plan.folder / record["output"], what="queue output") as picture:
            pictures.append(picture.convert("RGB"))
    path = plan.folder / SHEET
    mark = PngInfo()
    mark.add_text(SHEET_KEY, str(plan.source))
    with files.atomic_path(path) as partial:
        contact_sheet(pictures, labels, columns).save(partial, format="PNG", pnginfo=mark)
    return path


def _claim_sheet(path: Path) -> None:
    """OutputExistsError unless `path` is free or a contact sheet a queue wrote (it carries `SHEET_KEY`)."""
    if not (path.exists() or path.is_symlink()):
        return
    try:
        with readers.open_picture(path, what="contact sheet") as sheet:
            ours = SHEET_KEY in getattr(sheet, "text", {})
    except InvalidInputError:
        ours = False
    if not ours:
        raise OutputExistsError(
            f"{path} was not made by a Creator Kit queue: move it, or give the queue another output folder."
        )
