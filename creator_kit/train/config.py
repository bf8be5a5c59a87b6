"""The settings of a fine-tuning run (`TrainingConfig`, which round-trips through JSON) and what a finished run
returns (`TrainingResult`, with its metrics under Creator Kit's names: `metric_values`)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from creator_kit.core import readers, validate
from creator_kit.core.config import get_settings
from creator_kit.core.errors import InvalidInputError, NotFoundError
from creator_kit.library.cache import InstalledModel

MAX_CONFIG_BYTES = 64 * 1024  # a training config: a few dozen settings and a sample prompt
#: The largest value of each setting that sizes a training step's memory (far past what one machine trains).
SIZE_LIMITS = {"batch_size": 4096, "lora_r": 1024, "block_size": 32768, "sample_tokens": 4096}
LR_SCHEDULES = ("linear", "cosine", "constant", "constant_with_warmup")


@dataclass
class TrainingConfig:
    """Everything that defines a fine-tuning run; round-trips through `to_json` / `from_json`."""

    model: str
    data: str | None = None  # a file or folder; None when a Dataset is passed to `train`
    text_column: str = "text"
    documents: str = "line"  # .txt files: "line" (one document per line) or "file"
    name: str | None = None  # the new model is local/<name>; default: <base name>-finetuned
    overwrite: bool = False  # replace an existing local/<name> (of the same task), or a stopped run's checkpoints
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    epochs: int = 1
    batch_size: int = 8
    gradient_accumulation: int = 1
    lr: float = 5e-5
    lr_schedule: str = "linear"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_steps: int | None = None  # stop after this many optimizer steps (overrides epochs)
    seed: int = 0
    eval_every: int = 50
    save_every: int | None = None  # default: eval_every; must be a multiple of it
    early_stopping_patience: int | None = None  # evaluations without improvement before stopping
    keep_checkpoints: int = 2
    block_size: int | None = None  # default: the model's context length, capped on CPU
    validation_split: float = 0.1
    sample_prompt: str = "Once upon a time"
    sample_tokens: int = 24
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "gradient_accumulation", "eval_every", "keep_checkpoints", "lora_alpha"):
            validate.whole_number(name, getattr(self, name), 1)
        for name, high in SIZE_LIMITS.items():  # what sizes the memory of a step: bounded before anything loads
            validate.whole_number(name, getattr(self, name), 1, high, optional=name == "block_size")
        for name in ("max_steps", "save_every", "early_stopping_patience"):
            validate.whole_number(name, getattr(self, name), 1, optional=True)
        if not isinstance(self.model, str) or not self.model:
            raise InvalidInputError(f"model must be a model id such as 'distilbert/distilgpt2', not {self.model!r}.")
        validate.model_name(self.model_name)  # it names a folder: checked before anything touches the disk
        if not isinstance(self.overwrite, bool):
            raise InvalidInputError(f"overwrite must be True or False, not {self.overwrite!r}.")
        validate.choice("documents", self.documents, ("line", "file"))
        validate.choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        validate.number("lr", self.lr, 0, above=True)
        validate.number("validation_split", self.validation_split, 0, 0.99, above=True)
        validate.whole_number("warmup_steps", self.warmup_steps, 0)
        validate.number("weight_decay", self.weight_decay, 0)
        validate.number("lora_dropout", self.lora_dropout, 0, 0.99)
        validate.whole_number("seed", self.seed, 0, validate.MAX_SEED)
        if self.save_every is not None and self.save_every % self.eval_every:
            raise InvalidInputError(
                f"save_every ({self.save_every}) must be a multiple of eval_every ({self.eval_every}): the best "
                "checkpoint is chosen by validation loss, so checkpoints are saved at evaluations."
            )
        for name in ("data", "text_column", "device"):
            value = getattr(self, name)
            if not (isinstance(value, str) or (value is None and name != "text_column")):
                raise InvalidInputError(f"{name} must be text, not {value!r}."[:200])
        if not isinstance(self.sample_prompt, str) or not self.sample_prompt.strip():
            raise InvalidInputError("sample_prompt must be non-empty text.")
        validate.prompt(self.sample_prompt, "sample_prompt")

    @property
    def model_name(self) -> str:
        """The store name of the trained model, without the ``local/`` prefix."""
        name = self.name if self.name is not None else f"{self.model.rsplit('/', 1)[-1]}-finetuned"
        return name.removeprefix("local/") if isinstance(name, str) else name

    @property
    def run_dir(self) -> Path:
        """Where this run keeps its checkpoints and state: ``<outputs>/runs/<name>``."""
        return get_settings().outputs_dir / "runs" / self.model_name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        validate.known_keywords(data, [f.name for f in fields(cls)], "training setting")
        if "model" not in data:
            raise InvalidInputError('A training config needs a model, e.g. {"model": "distilbert/distilgpt2"}.')
        return cls(**data)

    @classmethod
    def from_json(cls, source: str | Path) -> TrainingConfig:
        """A config from JSON text or from a .json file (read through `core.readers`)."""
        if str(source).endswith(".json"):
            if not Path(source).exists():
                raise NotFoundError(f"No training config at {source}.")
            data = readers.read_json(source, what="training config", limit=MAX_CONFIG_BYTES)
        else:
            try:
                data = readers.parse_json(str(source), what="text", source="given as a training config")
            except InvalidInputError as exc:
                raise InvalidInputError(f"Not a training config: invalid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise InvalidInputError("Not a training config: expected a JSON object.")
        return cls.from_dict(data)


@dataclass
class TrainingResult:
    """A finished run: the new model in the store, its metrics and where the run lives."""

    model: InstalledModel | None  # None on the non-main processes of a distributed run
    config: TrainingConfig
    run_dir: Path
    steps: int
    best_step: int | None
    metrics: dict[str, float]  # the evaluation of the saved model
    history: list[dict[str, float]]  # every train and eval metric, by step
    data_fingerprint: str
    elapsed_s: float  # in the Trainer's loop (this call's share when resumed): loading and saving not included

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), run_dir=str(self.run_dir))


def metric_values(logs: dict[str, float]) -> dict[str, float]:
    """Creator Kit's metric names for one Trainer log entry (empty for the end-of-run summary)."""
    if "loss" in logs:
        names = {"loss": "train_loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm", "epoch": "epoch"}
        return {ours: float(logs[theirs]) for theirs, ours in names.items() if theirs in logs}
    if "eval_loss" in logs:
        loss = float(logs["eval_loss"])
        values = {"eval_loss": loss, "perplexity": math.exp(min(loss, 700.0)) if math.isfinite(loss) else loss}
        values.update(accuracy=float(logs["eval_accuracy"]), epoch=float(logs.get("epoch", 0.0)))
        return values
    return {}
