"""Starter models: tiny, clearly labelled models built on this machine, so every workflow runs offline.

    build_starters(on_event=TqdmReporter())   # or: creator-kit models starter

builds into the store (status ``starter``):

- ``local/starter-text``: a 4-layer, 128-wide GPT-2 with a byte-level BPE tokenizer, both trained for a
  few seconds on `CORPUS`, a few hundred lines of simple English prose shipped with the package.
- ``local/starter-image``: a Stable Diffusion pipeline with random weights, 64x64 pictures.
- ``local/starter-video``: a ModelScope-style text-to-video pipeline with random weights, 64x64 frames.

They are for trying the workflow, not for results: the pictures are noise-like patterns and the text
is a loose echo of the corpus. Starters already in the store are kept unless ``force=True``.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from creator_kit import files
from creator_kit.cache import InstalledModel
from creator_kit.events import Done, EventCallback, Log, Progress, emit
from creator_kit.quiet import quiet
from creator_kit.store import ModelStore
from creator_kit.tiny import SDShape, build_gpt2, build_stable_diffusion, build_text_to_video

OPERATION = "starter"
SOURCE = "starter"
DESCRIPTION = "Starter model for trying the workflow offline: download a real model for real results."
CORPUS = Path(__file__).parent / "data" / "starter_corpus.txt"
SEED = 0

#: The text starter: model size, tokenizer vocabulary, and its short training run (seconds on two CPU cores).
GPT2_SIZE = {"n_layer": 4, "n_embd": 128, "n_head": 4, "vocab_size": 1024}
TRAINING = {
    "block_size": 64,
    "batch_size": 8,
    "lr": 3e-3,
    "lr_schedule": "cosine",
    "warmup_steps": 10,
    "max_steps": 120,
    "eval_every": 40,
    "keep_checkpoints": 1,
    "sample_prompt": "Once upon a time",
}
#: The picture starters: 64x64 (latents of 32, a VAE with two levels), prompts of up to 64 characters.
PICTURE_SHAPE = SDShape(sample_size=32, max_length=64)

Builder = Callable[[Path, EventCallback | None], tuple[Path, dict[str, Any]]]


@dataclass(frozen=True)
class Starter:
    """One starter model: its store name, task, and how to build its files (folder and metadata) in a scratch dir."""

    name: str
    task: str
    build: Builder

    @property
    def repo_id(self) -> str:
        return f"local/{self.name}"


def _build_text(scratch: Path, on_event: EventCallback | None) -> tuple[Path, dict[str, Any]]:
    """A random GPT-2 registered in a scratch store, trained there on the corpus; the trained model's folder."""
    from creator_kit.train import TrainingConfig, train
    from creator_kit.train_checkpoints import RUN_RECORD

    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    store = ModelStore(scratch / "store", offline=True, user_cache=scratch / "no-user-cache")
    with quiet("transformers"):
        untrained = build_gpt2(scratch / "untrained", lines, seed=SEED, **GPT2_SIZE)
    base = store.register_local("starter-text-untrained", untrained, task="text-generation", source=SOURCE)
    # A throwaway run that no user run can share. Hex only: a temp folder's name may end in "_", which no
    # model id may.
    run_name = f"starter-text-build-{secrets.token_hex(4)}"
    config = TrainingConfig(model=base.repo_id, data=str(CORPUS), name=run_name, seed=SEED, **TRAINING)
    try:
        result = train(config, store=store, on_event=on_event)
    finally:
        files.remove_tree(config.run_dir, inside=config.run_dir.parent, markers=[RUN_RECORD])  # a throwaway run
    metadata = {
        "architecture": {"model": "GPT2LMHeadModel", **GPT2_SIZE},
        "training": config.to_dict(),
        "data_fingerprint": result.data_fingerprint,
        "steps": result.steps,
        "metrics": result.metrics,
        "history": result.history,
    }
    return Path(result.model.path), metadata


def _build_picture(builder: Callable[..., Path]) -> Builder:
    """A Builder for a diffusers pipeline with random weights in PICTURE_SHAPE."""

    def build(scratch: Path, on_event: EventCallback | None) -> tuple[Path, dict[str, Any]]:
        with quiet("transformers", "diffusers"):
            folder = builder(scratch / "pipeline", PICTURE_SHAPE, seed=SEED)
        return folder, {"shape": asdict(PICTURE_SHAPE), "seed": SEED, "weights": "random"}

    return build


STARTERS = (
    Starter("starter-text", "text-generation", _build_text),
    Starter("starter-image", "text-to-image", _build_picture(build_stable_diffusion)),
    Starter("starter-video", "text-to-video", _build_picture(build_text_to_video)),
)


def build_starters(
    store: ModelStore | None = None,
    *,
    tasks: Iterable[str] | None = None,
    on_event: EventCallback | None = None,
    force: bool = False,
) -> list[InstalledModel]:
    """Build the starter models (those for `tasks`; default all) into `store` (default: the configured one).

    Starters already installed are kept unless `force`. Events (operation ``"starter"``): a Log line per model,
    Progress over the models, Done with the list; the text starter's training also reports its ``"train"`` events.
    """
    store = store or ModelStore()
    store.require_writable()
    starters = [s for s in STARTERS if tasks is None or s.task in tasks]
    models = []
    emit(on_event, Progress(OPERATION, 0, len(starters), unit="model"))
    for index, starter in enumerate(starters, start=1):
        if not force and store.is_installed(starter.repo_id):
            emit(on_event, Log(OPERATION, f"{starter.repo_id}: already installed, kept"))
            models.append(store.get(starter.repo_id))
        else:
            emit(on_event, Log(OPERATION, f"{starter.repo_id}: building a tiny {starter.task} model"))
            started = time.perf_counter()
            models.append(_install(store, starter, on_event))
            emit(on_event, Log(OPERATION, f"{starter.repo_id}: built in {time.perf_counter() - started:.1f} s"))
        emit(on_event, Progress(OPERATION, index, len(starters), unit="model"))
    emit(on_event, Done(OPERATION, models))
    return models


def _install(store: ModelStore, starter: Starter, on_event: EventCallback | None) -> InstalledModel:
    """Build `starter` in a scratch folder and register it; the store changes only once the build succeeded."""
    with tempfile.TemporaryDirectory(prefix=f"creator-kit-{starter.name}-") as scratch:
        folder, metadata = starter.build(Path(scratch), on_event)
        return store.register_local(
            starter.name, folder, task=starter.task, source=SOURCE, description=DESCRIPTION, metadata=metadata
        )


def choose_models(
    tasks: Iterable[str], store: ModelStore | None = None, *, on_event: EventCallback | None = None
) -> dict[str, str]:
    """For each task, the repo id of a downloaded model (catalog order first), else of its starter.

    Starters that are needed and missing are built first, after one Log line saying so.
    """
    store = store or ModelStore()
    order = {entry.repo_id: index for index, entry in enumerate(store.catalog())}
    chosen = {}
    for task in tasks:
        downloaded = [m.repo_id for m in store.installed(task=task) if m.status == "downloaded"]
        chosen[task] = min(downloaded, key=lambda repo_id: order.get(repo_id, len(order)), default=None)
    missing = [task for task, repo_id in chosen.items() if repo_id is None]
    if missing:
        notice = (
            f"No {' or '.join(missing)} model downloaded: using starter models, tiny and only for trying the "
            "workflow offline (`creator-kit models download <repo id>` for real results)."
        )
        emit(on_event, Log(OPERATION, notice))
        chosen.update((model.task, model.repo_id) for model in build_starters(store, tasks=missing, on_event=on_event))
    return chosen
