"""A training run's folder: its record, its checkpoints (complete or cut short), and what a new run may replace.

Run state lives in ``<outputs>/runs/<name>/``. ``run.json`` is written first, so it also marks the folder
as Creator Kit's to clear for a fresh run of that name. The Trainer writes ``checkpoints/checkpoint-<step>/``
in place; once it has saved all of a checkpoint, the run's callback writes `CHECKPOINT_COMPLETE` into it,
so a checkpoint cut short by a killed process or a full disk is never resumed from: resuming sets it aside
(renamed ``incomplete-checkpoint-<step>-<hex>``) and continues from the newest complete one, saying which.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from creator_kit.core import files
from creator_kit.core.config import get_settings
from creator_kit.core.errors import NotFoundError, OutputExistsError
from creator_kit.core.events import EventCallback, Log, emit
from creator_kit.core.words import with_article
from creator_kit.library.catalog import TEXT_GENERATION

if TYPE_CHECKING:
    from creator_kit.library.store import ModelStore
    from creator_kit.train.config import TrainingConfig

OPERATION = "train"
RUN_RECORD = "run.json"  # the run's state; also the mark that a run folder is Creator Kit's to clear
CHECKPOINT_COMPLETE = "creator-kit-complete"  # written into a checkpoint once the Trainer has saved all of it


def last_checkpoint(config: TrainingConfig) -> Path | None:
    """The run's newest complete checkpoint (what ``resume=True`` continues from), or None.

    A checkpoint is complete once the Trainer has saved all of it: then the run's callback writes
    `CHECKPOINT_COMPLETE` into it. One cut short (a killed process, a full disk) has no such file.
    """
    complete = [(step, folder) for step, folder in checkpoints(config) if (folder / CHECKPOINT_COMPLETE).is_file()]
    return max(complete)[1] if complete else None


def stopped_checkpoint(config: TrainingConfig) -> Path | None:
    """The checkpoint a stopped run of `config` resumes from: its newest complete one, or None when the run has
    none or finished (the run record says so once the model is registered)."""
    finished = files.read_json(config.run_dir / RUN_RECORD).get("finished")
    return None if finished else last_checkpoint(config)


def mark_finished(config: TrainingConfig) -> None:
    """Record in the run's record that the run finished: its checkpoints are no longer a stopped run's."""
    record = config.run_dir / RUN_RECORD
    files.write_json(record, {**files.read_json(record), "finished": True})


def checkpoints(config: TrainingConfig) -> list[tuple[int, Path]]:
    """Every ``checkpoint-<step>`` folder of the run, complete or not, with its step."""
    folders = (config.run_dir / "checkpoints").glob("checkpoint-*")
    return [
        (int(f.name.removeprefix("checkpoint-")), f) for f in folders if f.name.removeprefix("checkpoint-").isdigit()
    ]


def checkpoint_to_resume(config: TrainingConfig, on_event: EventCallback | None) -> Path:
    """The newest complete checkpoint, after setting aside any newer incomplete ones (renamed, kept); says which."""
    checkpoint = last_checkpoint(config)
    if checkpoint is None:
        raise NotFoundError(
            f"No checkpoint to resume in {config.run_dir / 'checkpoints'} (none complete); start without resume."
        )
    for step, folder in checkpoints(config):
        if not (folder / CHECKPOINT_COMPLETE).is_file():
            aside = folder.with_name(f"incomplete-{folder.name}-{secrets.token_hex(2)}")
            folder.rename(aside)
            emit(on_event, Log(OPERATION, f"checkpoint-{step} was cut short; set aside as {aside.name}"))
    emit(on_event, Log(OPERATION, f"Resuming from {checkpoint.name}"))
    return checkpoint


def refuse_to_replace(config: TrainingConfig, store: ModelStore, resume: bool) -> None:
    """OutputExistsError before any work when the run would replace a model, or a stopped run, not asked to."""
    repo_id = f"local/{config.model_name}"
    if store.is_installed(repo_id):
        existing = store.get(repo_id)
        if existing.task not in (None, TEXT_GENERATION):
            raise OutputExistsError(
                f"{repo_id} is {with_article(existing.task)} model: a fine-tune never replaces a model of another "
                "task. Choose another name (name=..., CLI: --name)."
            )
        if not config.overwrite:
            raise OutputExistsError(
                f"{repo_id} exists already. Choose another name (name=..., CLI: --name), or replace it with "
                "overwrite=True (CLI: --overwrite)."
            )
    if not resume and not config.overwrite and last_checkpoint(config) is not None:
        raise OutputExistsError(
            f"A stopped run of {repo_id} has checkpoints in {config.run_dir / 'checkpoints'}: continue it with "
            "resume=True (CLI: --resume), or start again with overwrite=True (CLI: --overwrite)."
        )


def start_run(config: TrainingConfig, store: ModelStore, resume: bool, on_event: EventCallback | None) -> Path | None:
    """Before any training: what the run may write and replace is checked, and its folder made ready (a fresh
    one marked as the run's, or a resume's checkpoint chosen); returns the checkpoint to resume from."""
    store.require_writable()  # the run ends by registering the model: know now that it can
    files.require_writable_folder(config.run_dir.parent)
    refuse_to_replace(config, store, resume)
    if resume:
        return checkpoint_to_resume(config, on_event)
    files.remove_tree(config.run_dir, inside=get_settings().outputs_dir / "runs", markers=[RUN_RECORD])
    files.write_json(config.run_dir / RUN_RECORD, {"config": config.to_dict()})  # first: marks the run's folder
    return None
