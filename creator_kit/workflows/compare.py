"""Several models on the same prompts, side by side: each output saved with its manifest, and what each cost.

    comparison = compare.run(["Once upon a time"], models=["distilbert/distilgpt2", "gpt2"], seed=7)
    comparison.summary()        # one row per model: averages of the metrics below
    comparison.to_markdown()    # for people (names and units as below); to_csv(path), to_dict() for programs
    comparison.fastest()        # the model with the best speed

The models (2 to 6, installed, of one task: text generation or text-to-image) run one after the other
with the same seed and parameters; the runtime unloads earlier ones when the next would not fit the
memory budget. Metrics of each model on each prompt:

- ``load_s``: loading the model (0 when it was loaded already);
- text: ``first_token_s`` and ``tokens_per_s``; images: ``first_preview_s`` and ``seconds_per_picture``;
- ``peak_memory_bytes``: growth of the process's resident memory while it ran (sampled every 20 ms).

For people, `readable(metrics)` names them "speed" (tokens/s, or s per image), "first token" or "first
preview", "load" and "peak memory", in ms, s and MB: ``speed 212 tokens/s · first token 8.78 ms · ...``.

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

#: Each metric's name for people, in the order they are shown: the speed first.
METRIC_NAMES = {
    "tokens_per_s": "speed",
    "seconds_per_picture": "speed",
    "first_token_s": "first token",
    "first_preview_s": "first preview",
    "load_s": "load",
    "peak_memory_bytes": "peak memory",
}
#: The metrics that rank speed, and which end is fastest.
SPEED = {"tokens_per_s": max, "seconds_per_picture": min}


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

    def fastest(self) -> str | None:
        """The model with the best mean speed (see `fastest`)."""
        return fastest(self.items)

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
        """The summary for people, as a Markdown table: one row per model (the fastest marked), each metric's
        mean under its name for people, in its unit."""
        rows, best = self.summary(), self.fastest()
        names = [name for name in METRIC_NAMES if any(name in row for row in rows)]
        headers = ["model", "prompts", *dict.fromkeys(METRIC_NAMES[name] for name in names)]
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for row in rows:
            model = f"{row['model']} (fastest)" if row["model"] == best else row["model"]
            cells = [model, str(row["items"]), *(metric_value(name, row[name]) for name in names if name in row)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def readable(metrics: dict[str, float]) -> dict[str, str]:
    """`metrics` for people: each one's name (METRIC_NAMES) and its value in its unit, the speed first."""
    ordered = [name for name in METRIC_NAMES if name in metrics] + [
        name for name in metrics if name not in METRIC_NAMES
    ]
    return {METRIC_NAMES.get(name, name.replace("_", " ")): metric_value(name, metrics[name]) for name in ordered}


def metric_value(name: str, value: float) -> str:
    """One metric's value in its unit: '212 tokens/s', '1.35 s per image', '8.78 ms', '0.47 MB'."""
    if name == "tokens_per_s":
        return f"{_figure(value)} tokens/s"
    if name == "seconds_per_picture":
        return f"{duration(value)} per image"
    if name == "peak_memory_bytes":
        return f"{_figure(value / 1e6)} MB"
    if name == "load_s" and value == 0:
        return "loaded already"
    return duration(value) if name.endswith("_s") else _figure(value)


def duration(seconds: float) -> str:
    """Seconds as people read them: '8.78 ms' under a second, else '1.35 s'."""
    return f"{_figure(seconds * 1000)} ms" if abs(seconds) < 1 else f"{_figure(seconds)} s"


def fastest(items: Sequence[Item]) -> str | None:
    """The model of `items` with the best mean speed (most tokens/s, fewest seconds per image); None unless at
    least two models were measured."""
    name = next((name for name in SPEED if any(name in item.metrics for item in items)), None)
    speeds: dict[str, list[float]] = {}
    for item in items:
        if name in item.metrics:
            speeds.setdefault(item.model, []).append(item.metrics[name])
    if name is None or len(speeds) < 2:
        return None
    means = {model: sum(values) / len(values) for model, values in speeds.items()}
    return SPEED[name](means, key=means.__getitem__)


def _figure(value: float) -> str:
    """A number to about three significant figures, never in exponent notation: 1,234 · 56.7 · 0.47."""
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if size >= 0.01 else "under 0.01"


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
