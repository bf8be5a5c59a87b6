"""Starter models: tiny, clearly labelled models built on this machine, so every workflow runs offline.

    build_starters(on_event=TqdmReporter())   # or: creator-kit models starter
    choose_models(["text-generation"], on_event=SetupBars())   # a set-up cell: one bar per model it builds

builds into the store (status ``starter``):

- ``local/starter-text``: a 4-layer, 128-wide GPT-2 (1024 tokens of context) with a byte-level BPE tokenizer,
  both trained for a few seconds on `CORPUS`, a few hundred lines of simple English prose shipped with the
  package, read as one text: it writes line after line until max_new_tokens.
- ``local/starter-image``: a Stable Diffusion pipeline with random weights, 64x64 pictures.
- ``local/starter-video``: a ModelScope-style text-to-video pipeline with random weights, 64x64 frames.
- ``local/starter-tiny-autoencoder``: a companion of the two, an AutoencoderTiny (TAESD's class) with random weights
  that decodes their latents: previews and ``decoder="tiny"`` drafts run offline too. It comes with either.

They are for trying the workflow, not for results: the pictures are noise-like patterns and the text
is a loose echo of the corpus. Starters already in the store are kept unless ``force=True``. They build
quietly: the libraries' warnings and bars are off meanwhile, and each model's progress is one bar (`BUILD` events).
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from creator_kit.core import files
from creator_kit.core.events import Done, Event, EventCallback, Log, Progress, TqdmReporter, emit
from creator_kit.core.quiet import quiet
from creator_kit.library.cache import InstalledModel
from creator_kit.library.catalog import AUTOENCODER, TEXT_TO_IMAGE, TEXT_TO_VIDEO
from creator_kit.library.store import ModelStore
from creator_kit.starters.tiny import (
    SDShape,
    build_gpt2,
    build_stable_diffusion,
    build_text_to_video,
    build_tiny_autoencoder,
)

OPERATION = "starter"
#: The operation of one model's build: Progress with the model's repo id as stage, then Done with the model.
BUILD = "build"
SOURCE = "starter"
DESCRIPTION = "Starter model for trying the workflow offline: download a real model for real results."
CORPUS = Path(__file__).parent / "data" / "starter_corpus.txt"
SEED = 0

#: The text starter: model size, tokenizer vocabulary, context, and its short training run (seconds on two CPU
#: cores). Its context is GPT-2's own 1024 tokens, so a prompt and hundreds of new tokens fit, as with the real
#: models it stands in for. The corpus is read as one document: its lines then end with a newline, not the
#: end-of-text token, which a model trained on one document per line learns to write after each sentence.
GPT2_SIZE = {"n_layer": 4, "n_embd": 128, "n_head": 4, "vocab_size": 1024, "context": 1024}
TRAINING = {
    "documents": "file",
    "block_size": 128,  # with batch_size 4, as many tokens a step as 8 blocks of 64, seen at more positions
    "batch_size": 4,
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
#: Their pictures' width and height in pixels: larger ones show nothing more, only take longer.
PICTURE_SIZE = PICTURE_SHAPE.sample_size * 2 ** (len(PICTURE_SHAPE.vae_channels) - 1)

Builder = Callable[[Path, EventCallback], tuple[Path, dict[str, Any]]]


@dataclass(frozen=True)
class Starter:
    """One starter model: its store name, task, how to build its files (folder and metadata) in a scratch dir, the
    libraries kept quiet meanwhile, the work its bar counts (the builder's Progress events move it), and for a
    companion the tasks it serves (it is built with their starters)."""

    name: str
    task: str
    build: Builder
    libraries: tuple[str, ...]
    work: int = 1
    unit: str = "model"
    serves: tuple[str, ...] = ()

    @property
    def repo_id(self) -> str:
        return f"local/{self.name}"


def _build_text(scratch: Path, on_event: EventCallback) -> tuple[Path, dict[str, Any]]:
    """A random GPT-2 registered in a scratch store, trained there on the corpus; the trained model's folder."""
    from creator_kit.train import TrainingConfig, train
    from creator_kit.train.checkpoints import RUN_RECORD

    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    store = ModelStore(scratch / "store", offline=True, user_cache=scratch / "no-user-cache")
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

    def build(scratch: Path, on_event: EventCallback) -> tuple[Path, dict[str, Any]]:
        folder = builder(scratch / "pipeline", PICTURE_SHAPE, seed=SEED)
        return folder, {"shape": asdict(PICTURE_SHAPE), "seed": SEED, "weights": "random"}

    return build


def _build_autoencoder(scratch: Path, on_event: EventCallback) -> tuple[Path, dict[str, Any]]:
    """An AutoencoderTiny with random weights for the picture starters' latents (4 channels, their VAE's upsampling;
    their VAE's scaling factor is Stable Diffusion's, so its latent family is "sd")."""
    levels = len(PICTURE_SHAPE.vae_channels)
    folder = build_tiny_autoencoder(scratch / "autoencoder", levels=levels, seed=SEED)
    return folder, {"latent_family": "sd", "levels": levels, "seed": SEED, "weights": "random"}


TEXT_LIBRARIES, PICTURE_LIBRARIES = ("transformers", "datasets"), ("transformers", "diffusers")
STARTERS = (
    Starter("starter-text", "text-generation", _build_text, TEXT_LIBRARIES, work=TRAINING["max_steps"], unit="step"),
    Starter("starter-image", "text-to-image", _build_picture(build_stable_diffusion), PICTURE_LIBRARIES),
    Starter("starter-video", "text-to-video", _build_picture(build_text_to_video), PICTURE_LIBRARIES),
    Starter(
        "starter-tiny-autoencoder",
        AUTOENCODER,
        _build_autoencoder,
        ("diffusers",),
        serves=(TEXT_TO_IMAGE, TEXT_TO_VIDEO),
    ),
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
    Progress over the models, Done with the list; and for each model built, its own bar (operation `BUILD`, the
    repo id as stage: the text starter's training steps, 0 to 1 for the others) and Done. `SetupBars` shows only
    those bars.
    """
    store = store or ModelStore()
    store.require_writable()
    wanted = None if tasks is None else set(tasks)
    starters = [s for s in STARTERS if wanted is None or {s.task, *s.serves} & wanted]
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
    """Build `starter` in a scratch folder, its libraries' warnings and bars off, and register it; the store changes
    only once the build succeeded. Its progress is one bar: the builder's Progress events, as `BUILD` events."""

    def bar(event: Event) -> None:
        if isinstance(event, Progress):
            emit(on_event, Progress(BUILD, event.completed, event.total, unit=starter.unit, stage=starter.repo_id))

    bar(Progress(BUILD, 0, starter.work))
    with tempfile.TemporaryDirectory(prefix=f"creator-kit-{starter.name}-") as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with quiet(*starter.libraries):
            folder, metadata = starter.build(Path(scratch), bar)
        model = store.register_local(
            starter.name, folder, task=starter.task, source=SOURCE, description=DESCRIPTION, metadata=metadata
        )
    bar(Progress(BUILD, starter.work, starter.work))
    emit(on_event, Done(BUILD, model))
    return model


class SetupBars:
    """Shows building starter models as one progress bar per model built, and nothing else: the view of a notebook's
    set-up cell and of `make demo`. The bars are `TqdmReporter`'s (`mode`: where it runs): text bars on stdout in a
    terminal, widget bars in JupyterLab, one line per model in papermill and nbval. Give it as `on_event` to
    `choose_models` or `build_starters`; as a context manager, every bar closes at the end, whatever happened.

        with SetupBars() as bars:
            models = choose_models(["text-generation", "text-to-image"], on_event=bars)
    """

    def __init__(self, file: TextIO | None = None, *, mode: str | None = None) -> None:
        # Two redraws a second at most: a saved notebook keeps every redraw of a cell's output.
        self._reporter = TqdmReporter(mode, file=file or sys.stdout, mininterval=0.5)

    def __call__(self, event: Event) -> None:
        if event.operation == BUILD:
            self._reporter(event)

    def __enter__(self) -> SetupBars:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._reporter.close()


def choose_models(
    tasks: Iterable[str], store: ModelStore | None = None, *, on_event: EventCallback | None = None
) -> dict[str, str]:
    """For each task, the repo id of a downloaded model (catalog order first), else of its starter.

    Starters that are needed and missing are built first, after one Log line saying so (`build_starters`' events
    follow; `SetupBars` shows one bar per model built).
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
        built = build_starters(store, tasks=missing, on_event=on_event)
        chosen.update((model.task, model.repo_id) for model in built if model.task in missing)
    return chosen
