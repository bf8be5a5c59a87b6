"""Several models on the same prompts, side by side: each output saved with its manifest, and what each cost.

    comparison = compare.run(["Once upon a time"], models=["distilbert/distilgpt2", "gpt2"], seed=7)
    comparison.summary()        # one row per model: averages of the metrics below
    comparison.to_markdown()    # or to_csv(path), to_dict() (what `creator-kit compare --json` prints)

The models (2 to 6, installed, of one task: text generation or text-to-image) run one after the other
with the same seed and parameters; the runtime unloads earlier ones when the next would not fit the
memory budget. Metrics of each model on each prompt:

- ``load_s``: loading the model (0 when it was loaded already);
- text: ``first_token_s`` and ``tokens_per_s``; images: ``first_preview_s`` and ``seconds_per_picture``;
- ``peak_memory_bytes``: growth of the process's resident memory while it ran (sampled every 20 ms).

Outputs go to ``outputs/compare-<time>-<random>/``, each with its manifest, so any of them can be reproduced.
"""

from __future__ import annotations

import csv
import io
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from creator_kit.core import readers, validate
from creator_kit.core.config import get_settings
from creator_kit.core.errors import InvalidInputError, WrongTaskError
from creator_kit.core.events import EventCallback, Preview, Progress, emit
from creator_kit.core.memory import peak_memory
from creator_kit.library.catalog import TEXT_GENERATION, TEXT_TO_IMAGE
from creator_kit.library.store import ModelStore

OPERATION = "compare"
TASKS = (TEXT_GENERATION, TEXT_TO_IMAGE)
MAX_PROMPTS_BYTES = 1024**2  # a prompts file (the prompts themselves are capped at 20,000 characters each)
MIN_MODELS, MAX_MODELS, MAX_PROMPTS = 2, 6, 100


@dataclass
class Item:
    """One model on one prompt: where its output is, the output itself (text, or the PNG's path), its metrics."""

    model: str
    prompt: str
    output: str
    path: Path
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), path=str(self.path))


@dataclass
class Comparison:
    """Every item of a comparison, in run order (model by model), and the folder holding their outputs."""

    task: str
    models: list[str]
    prompts: list[str]
    seed: int
    folder: Path
    items: list[Item] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        """One row per model: its id, the number of items, and the mean of each metric."""
        rows = []
        for model in self.models:
            mine = [item.metrics for item in self.items if item.model == model]
            names = list(dict.fromkeys(name for metrics in mine for name in metrics))
            means = {name: sum(m[name] for m in mine) / len(mine) for name in names}
            rows.append({"model": model, "items": len(mine), **means})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"items": [item.to_dict() for item in self.items], "summary": self.summary()}

    def to_csv(self, path: str | Path | None = None) -> str:
        """The summary as CSV text (written to `path` too when given)."""
        rows = self.summary()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)
        if path is not None:
            from creator_kit.core import files

            files.write_text(path, buffer.getvalue())
        return buffer.getvalue()

    def to_markdown(self) -> str:
        """The summary as a Markdown table (numbers rounded for reading)."""
        rows = self.summary()
        keys = list(dict.fromkeys(key for row in rows for key in row))
        lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        for row in rows:
            cells = [f"{row[k]:.4g}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k in keys]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def check(prompts: str | Sequence[str], models: Sequence[str], store: ModelStore) -> tuple[str, list[str], list[str]]:
    """The task, the prompts and the models of a comparison, or one error saying what is wrong: before any work."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts or len(prompts) > MAX_PROMPTS:
        raise InvalidInputError(f"Give 1 to {MAX_PROMPTS} prompts to compare on, not {len(prompts)}.")
    prompts = [validate.prompt(prompt) for prompt in prompts]
    models = list(dict.fromkeys(models))
    if not MIN_MODELS <= len(models) <= MAX_MODELS:
        raise InvalidInputError(f"Compare {MIN_MODELS} to {MAX_MODELS} different models, not {len(models)}.")
    tasks = {model: store.get(model).task for model in models}  # ModelNotInstalledError names the missing one
    if len(set(tasks.values())) != 1 or next(iter(tasks.values())) not in TASKS:
        described = ", ".join(f"{model} ({task})" for model, task in tasks.items())
        raise WrongTaskError(f"Compare models of one task, text-generation or text-to-image: {described}.")
    return next(iter(tasks.values())), prompts, models


def run(
    prompts: str | Sequence[str],
    *,
    models: Sequence[str],
    seed: int | None = 0,
    store: ModelStore | None = None,
    cancel: threading.Event | None = None,
    on_event: EventCallback | None = None,
    **params: Any,
) -> Comparison:
    """Run every model of `models` on every prompt with the same `seed` and `params` (the engine's own: text
    generation parameters, or image ones); returns the comparison. Each finished item arrives as a Preview
    event (its `value` is the Item), and Progress counts the items done."""
    store = store or ModelStore()
    task, prompts, models = check(prompts, models, store)
    seed = validate.random_seed() if validate.seed(seed) is None else seed
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    comparison = Comparison(task, models, prompts, seed, get_settings().outputs_dir / f"compare-{stamp}")
    total = len(models) * len(prompts)
    emit(on_event, Progress(OPERATION, 0, total, unit="item"))
    for model in models:
        for prompt in prompts:
            name = f"{len(comparison.items) + 1:02d}-{model.replace('/', '--')}"
            output = comparison.folder / name
            comparison.items.append(run_one(task, model, prompt, seed, output, cancel, params))
            emit(on_event, Preview(OPERATION, len(comparison.items), comparison.items[-1]))  # columns fill in
            emit(on_event, Progress(OPERATION, len(comparison.items), total, unit="item"))
    return comparison


def run_one(
    task: str, model: str, prompt: str, seed: int, output: Path, cancel: threading.Event | None, params: dict
) -> Item:
    """`model` on `prompt`: loaded (timed), run (timed, memory sampled), its output saved with its manifest as
    `output` (plus the suffix)."""
    from creator_kit.engines import image, runtime, text

    engine = text if task == TEXT_GENERATION else image
    already = model in runtime.loaded()
    started = time.perf_counter()
    loaded = engine.load_model(model)
    metrics = {"load_s": 0.0 if already else time.perf_counter() - started}
    first: list[float] = []
    with peak_memory() as peak:
        begun = time.perf_counter()

        def on_event(event: Any) -> None:
            if not first and isinstance(event, Progress | Preview):
                first.append(time.perf_counter() - begun)

        result = engine.generate(prompt, model=loaded, seed=seed, cancel=cancel, on_event=on_event, **params)
    metrics["peak_memory_bytes"] = float(peak[0])
    if task == TEXT_GENERATION:
        metrics.update(first_token_s=result.first_token_s or 0.0, tokens_per_s=result.tokens_per_s)
        path = result.save(output.parent, name=output.name)
        return Item(model, prompt, result.text, path, metrics)
    seconds = result.elapsed_s / len(result.images)
    metrics.update(first_preview_s=first[0] if first else 0.0, seconds_per_picture=seconds)
    (path, *_) = result.save(output.parent, name=output.name)
    return Item(model, prompt, str(path), path, metrics)


def read_prompts(path: str | Path) -> list[str]:
    """A prompts file: a JSON list of strings, or text with one prompt per line (empty lines skipped); read through
    `core.readers` (a regular file of at most MAX_PROMPTS_BYTES)."""
    content = readers.read_text(path, what="prompts file", limit=MAX_PROMPTS_BYTES)
    if content.lstrip().startswith("["):
        prompts = readers.parse_json(content, what="prompts file", source=path)
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise InvalidInputError(f"{path} must be a JSON list of prompt strings.")
        return prompts
    prompts = [line.strip() for line in content.splitlines() if line.strip()]
    if not prompts:
        raise InvalidInputError(f"{path} holds no prompts: write one prompt per line.")
    return prompts
