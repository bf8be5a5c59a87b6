"""Fine-tuning text models on your own data: full or LoRA, live metrics, checkpoints and resume.

    config = TrainingConfig(model="distilbert/distilgpt2", data="stories.txt", name="stories", epochs=2)
    result = train(config, on_event=TqdmReporter())
    result.model.repo_id                          # 'local/stories': in ModelStore().installed(), status 'custom'
    text.generate("Once upon a time", model=result.model.repo_id)

Data: a .txt file (one document per line, or the whole file with ``documents="file"``), a .csv,
.jsonl or .json file with a text column, a folder of .txt files, or a ``datasets.Dataset`` passed
as ``dataset=``. Documents are tokenized, joined with the end-of-text token and packed into blocks
of the model's context length (capped at 256 tokens on CPU, 1024 elsewhere); a seeded share of
the blocks is held out for validation.

Training is the transformers Trainer with callbacks. Events (task ``"train"``): ``Progress``
(unit ``"step"``) after every optimizer step; ``Metric`` with train_loss, learning_rate, grad_norm,
epoch, tokens_per_s and eta_s after every step, and eval_loss, perplexity, accuracy (next token)
and best_step after every evaluation; ``Preview`` with ``{"prompt", "text"}``, a greedy sample from
the fixed `sample_prompt`, after every evaluation; ``Log`` lines; ``Done`` with the result.

Run state lives in ``<outputs>/runs/<name>/`` (``get_settings().outputs_dir``):

    run.json                          the config, the data fingerprint and the base model commit
    checkpoints/checkpoint-<step>/    Trainer checkpoints: weights (or the LoRA adapter), optimizer,
                                      scheduler, RNG states and trainer_state.json (metrics history)
    data-cache/                       the datasets cache of this run

A fresh run clears that folder; ``resume=True`` continues from the last checkpoint and ends with
the same result as an uninterrupted run. The best checkpoint by validation loss is kept (with the
latest `keep_checkpoints - 1`) and becomes the model. Setting `cancel` (the panel's Stop) or one
Ctrl-C finishes the current step, saves a checkpoint and raises CancelledError; a second Ctrl-C
aborts at once without saving. A non-finite loss raises TrainingDivergedError and saves nothing
after the last good checkpoint.

Scaling: the module is also the command-line entry point, so the same run goes multi-GPU or
multi-node with accelerate (the Trainer runs on accelerate underneath):

    python -m creator_kit.train run.json                        # one process
    accelerate launch -m creator_kit.train run.json [--resume]  # every process of `accelerate config`

where ``run.json`` is a `TrainingConfig.to_json()`. Only the main process registers the model.
Only the single-process path is tested here.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import hashlib
import json
import math
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import (
    EarlyStoppingCallback,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
)
from transformers.trainer_utils import get_last_checkpoint

from creator_kit import manifest as manifests
from creator_kit import text
from creator_kit.config import get_settings, select_device
from creator_kit.errors import (
    CancelledError,
    CreatorKitError,
    InvalidInputError,
    NotFoundError,
    TrainingDivergedError,
    WrongTaskError,
)
from creator_kit.events import Done, EventCallback, Log, Metric, Preview, Progress, TqdmReporter, emit
from creator_kit.quiet import quiet
from creator_kit.store import InstalledModel, ModelStore

if TYPE_CHECKING:
    from datasets import Dataset

TASK = "train"
TEXT_SUFFIXES = (".txt",)
TABLE_SUFFIXES = {".csv": "csv", ".jsonl": "json", ".json": "json"}
LR_SCHEDULES = ("linear", "cosine", "constant", "constant_with_warmup")
CPU_BLOCK_CAP = 256
ACCELERATOR_BLOCK_CAP = 1024


@dataclass
class TrainingConfig:
    """Everything that defines a fine-tuning run; round-trips through `to_json` / `from_json`."""

    model: str
    data: str | None = None  # a file or folder; None when a Dataset is passed to `train`
    text_column: str = "text"
    documents: str = "line"  # .txt files: "line" (one document per line) or "file"
    name: str | None = None  # the new model is local/<name>; default: <base name>-finetuned
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
        _positive_ints(self, "epochs", "batch_size", "gradient_accumulation", "eval_every", "keep_checkpoints")
        _positive_ints(self, "lora_r", "lora_alpha", "sample_tokens")
        _positive_ints(self, "max_steps", "save_every", "early_stopping_patience", "block_size", optional=True)
        if not isinstance(self.model, str) or not self.model:
            raise InvalidInputError(f"model must be a model id such as 'distilbert/distilgpt2', not {self.model!r}.")
        if self.documents not in ("line", "file"):
            raise InvalidInputError(f"documents must be 'line' or 'file', not {self.documents!r}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InvalidInputError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, not {self.lr_schedule!r}.")
        if not isinstance(self.lr, int | float) or not self.lr > 0:
            raise InvalidInputError(f"lr must be a number > 0, not {self.lr!r}.")
        if not 0 < self.validation_split < 1:
            raise InvalidInputError(f"validation_split must be between 0 and 1, not {self.validation_split!r}.")
        if self.warmup_steps < 0 or self.weight_decay < 0 or not 0 <= self.lora_dropout < 1:
            raise InvalidInputError("warmup_steps and weight_decay must be >= 0, lora_dropout in [0, 1).")
        if self.save_every is not None and self.save_every % self.eval_every:
            raise InvalidInputError(
                f"save_every ({self.save_every}) must be a multiple of eval_every ({self.eval_every}): the best "
                "checkpoint is chosen by validation loss, so checkpoints are saved at evaluations."
            )
        if not self.sample_prompt.strip():
            raise InvalidInputError("sample_prompt must be non-empty text.")

    @property
    def model_name(self) -> str:
        """The store name of the trained model, without the ``local/`` prefix."""
        return (self.name or f"{self.model.rsplit('/', 1)[-1]}-finetuned").removeprefix("local/")

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
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"Unknown training setting(s) {', '.join(unknown)}; allowed: {', '.join(known)}.")
        return cls(**data)

    @classmethod
    def from_json(cls, source: str | Path) -> TrainingConfig:
        """A config from JSON text or from a .json file."""
        if str(source).endswith(".json"):
            if not Path(source).is_file():
                raise NotFoundError(f"No training config at {source}.")
            source = Path(source).read_text(encoding="utf-8")
        try:
            data = json.loads(str(source))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"Not a training config: invalid JSON ({exc}).") from exc
        if not isinstance(data, dict):
            raise InvalidInputError("Not a training config: expected a JSON object.")
        return cls.from_dict(data)


def _positive_ints(config: TrainingConfig, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(config, name)
        if optional and value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInputError(
                f"{name} must be a whole number >= 1{' or None' if optional else ''}, not {value!r}."
            )


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
        return {
            "model": self.model.to_dict() if self.model else None,
            "config": self.config.to_dict(),
            "run_dir": str(self.run_dir),
            "steps": self.steps,
            "best_step": self.best_step,
            "metrics": self.metrics,
            "history": self.history,
            "data_fingerprint": self.data_fingerprint,
            "elapsed_s": self.elapsed_s,
        }


# ---------------------------------------------------------------------------------------------- data


def load_documents(
    data: str | Path | Dataset, *, text_column: str = "text", documents: str = "line", cache_dir: Path | None = None
) -> Dataset:
    """The non-empty documents of `data` as a Dataset with one ``text`` column."""
    from datasets import Dataset, load_dataset
    from datasets.exceptions import DatasetGenerationError

    if isinstance(data, Dataset):
        dataset, source = data, "The dataset"
    else:
        path = Path(data).expanduser()
        files = _data_files(path)
        _require_utf8(files)
        suffix = files[0].suffix.lower()
        if suffix in TEXT_SUFFIXES:
            sample_by = "line" if documents == "line" else "document"
            builder, options = "text", {"sample_by": sample_by}
        else:
            builder, options = TABLE_SUFFIXES[suffix], {}
        source = str(path)
        if not any(f.stat().st_size for f in files):
            raise InvalidInputError(f"{source} holds no text: it is empty. Add text and try again.")
        try:
            dataset = load_dataset(
                builder,
                data_files=[str(f) for f in files],
                split="train",
                cache_dir=str(cache_dir) if cache_dir else None,
                **options,
            )
        except DatasetGenerationError as exc:
            raise InvalidInputError(f"{source} could not be read as {builder}: {exc.__cause__ or exc}.") from exc
    if text_column not in dataset.column_names:
        raise InvalidInputError(
            f"{source} has no column {text_column!r}; its columns are {', '.join(dataset.column_names) or 'none'}. "
            "Pick one with text_column (CLI: --text-column)."
        )
    feature = dataset.features[text_column]
    if getattr(feature, "dtype", None) not in ("string", "large_string"):
        raise InvalidInputError(f"Column {text_column!r} of {source} holds {feature}, not text.")
    dataset = dataset.select_columns([text_column]).rename_columns(
        {text_column: "text"} if text_column != "text" else {}
    )
    dataset = dataset.filter(lambda batch: [bool(t and t.strip()) for t in batch["text"]], batched=True)
    if len(dataset) == 0:
        raise InvalidInputError(f"{source} holds no text: every document is empty. Add text and try again.")
    return dataset


def _data_files(path: Path) -> list[Path]:
    """The files to read for `path`: itself, or the .txt files of a folder (sorted)."""
    if not path.exists():
        raise NotFoundError(f"No training data at {path}: give a .txt, .csv or .jsonl file, or a folder of .txt files.")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise InvalidInputError(f"The folder {path} holds no .txt files to train on.")
        return files
    if path.suffix.lower() not in (*TEXT_SUFFIXES, *TABLE_SUFFIXES):
        raise InvalidInputError(
            f"{path.name}: unsupported data format {path.suffix or '(none)'}; use .txt, .csv, .jsonl or .json."
        )
    return [path]


def _require_utf8(files: list[Path]) -> None:
    """InvalidInputError naming the first file that is not valid UTF-8 text."""
    for path in files:
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{path} is not UTF-8 text (byte {exc.start} of a chunk cannot be decoded). Re-save it as UTF-8."
            ) from exc


def fingerprint(documents: Dataset) -> str:
    """sha256 of the documents in order (each UTF-8 encoded, NUL-terminated): what the model learned from."""
    digest = hashlib.sha256()
    for batch in documents.iter(batch_size=1000):
        for doc in batch["text"]:
            digest.update(doc.encode("utf-8") + b"\0")
    return digest.hexdigest()


def tokenize(documents: Dataset, tokenizer: Any) -> Dataset:
    """The token ids of every document, each ended with the end-of-text token."""

    def encode(batch: dict[str, list[str]]) -> dict[str, list[list[int]]]:
        ids = tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]
        return {"input_ids": [[*doc, tokenizer.eos_token_id] for doc in ids]}

    return documents.map(encode, batched=True, remove_columns=documents.column_names)


def pack(tokens: Dataset, block_size: int) -> Dataset:
    """The documents' tokens as one stream cut into blocks of `block_size` (the remainder dropped)."""

    def group(batch: dict[str, list[list[int]]]) -> dict[str, list[list[int]]]:
        stream = [token for doc in batch["input_ids"] for token in doc]
        blocks = [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]
        return {"input_ids": blocks, "labels": [list(b) for b in blocks]}

    return tokens.map(group, batched=True, batch_size=len(tokens))


def split(blocks: Dataset, validation_split: float, seed: int) -> tuple[Dataset, Dataset]:
    """(train, validation) blocks, the validation share chosen with `seed`."""
    held_out = max(1, round(len(blocks) * validation_split))
    parts = blocks.train_test_split(test_size=held_out, seed=seed)
    return parts["train"], parts["test"]


def context_length(model: Any, tokenizer: Any) -> int:
    """How many tokens the model reads at once."""
    limit = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
    return int(min(limit, tokenizer.model_max_length))


# ---------------------------------------------------------------------------------------------- callbacks


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


class EventsCallback(TrainerCallback):
    """Turns the Trainer's steps, logs and evaluations into Creator Kit events; stops on cancel or divergence."""

    def __init__(
        self, config: TrainingConfig, tokens_per_step: int, on_event: EventCallback | None, cancel: threading.Event
    ):
        self.config = config
        self.tokens_per_step = tokens_per_step
        self.on_event = on_event
        self.cancel = cancel
        self.cancelled = False
        self.diverged: str | None = None
        self.best: tuple[float, int] | None = None
        self._started = self._step_started = time.perf_counter()
        self._first_step = 0
        self._step_seconds = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()
        self._first_step = state.global_step
        for entry in state.log_history:  # a resumed run replays its history, so views show whole curves
            self._report(entry["step"], metric_values(entry))
        emit(self.on_event, Progress(TASK, state.global_step, state.max_steps, unit="step"))

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._step_seconds = time.perf_counter() - self._step_started
        emit(self.on_event, Progress(TASK, state.global_step, state.max_steps, unit="step"))
        if self.cancel.is_set():
            self.cancelled = True
            control.should_save, control.should_training_stop = True, True
        elif control.should_save and not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            self._diverge(control, f"the weights held NaN or inf after step {state.global_step}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        values = metric_values(logs or {})
        broken = [name for name in ("train_loss", "grad_norm", "eval_loss") if not math.isfinite(values.get(name, 0.0))]
        if broken:
            self._diverge(control, f"{broken[0]} was {values[broken[0]]} at step {state.global_step}")
        elif "train_loss" in values:
            done = state.global_step - self._first_step
            per_step = (time.perf_counter() - self._started) / max(done, 1)
            values["tokens_per_s"] = self.tokens_per_step / self._step_seconds if self._step_seconds else 0.0
            values["eta_s"] = per_step * (state.max_steps - state.global_step)
        self._report(state.global_step, values)

    def on_evaluate(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.diverged is None:
            emit(self.on_event, Preview(TASK, state.global_step, self._sample(model, processing_class)))

    def _report(self, step: int, values: dict[str, float]) -> None:
        if "eval_loss" in values:
            if self.best is None or values["eval_loss"] < self.best[0]:
                self.best = (values["eval_loss"], step)
            values["best_step"] = float(self.best[1])
        if values:
            emit(self.on_event, Metric(TASK, step, values))

    def _diverge(self, control: Any, what: str) -> None:
        self.diverged = what
        control.should_save = control.should_evaluate = False
        control.should_training_stop = True

    def _sample(self, model: Any, tokenizer: Any) -> dict[str, str]:
        """A greedy continuation of the sample prompt; leaves the RNG states as they were (so resume matches)."""
        inputs = tokenizer(self.config.sample_prompt, return_tensors="pt").to(model.device)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            output = model.generate(
                **inputs,
                max_new_tokens=self.config.sample_tokens,
                do_sample=False,
                pad_token_id=tokenizer.eos_token_id,
            )
        new_ids = output[0, inputs["input_ids"].shape[1] :]
        return {"prompt": self.config.sample_prompt, "text": tokenizer.decode(new_ids, skip_special_tokens=True)}


def _predicted_tokens(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return logits.argmax(dim=-1)


def _next_token_accuracy(prediction: Any) -> dict[str, float]:
    predicted, labels = prediction.predictions[:, :-1], prediction.label_ids[:, 1:]
    return {"accuracy": float(np.mean(predicted == labels))}


@contextlib.contextmanager
def _sigint_cancels(cancel: threading.Event) -> Iterator[None]:
    """In the main thread, the first Ctrl-C sets `cancel` (clean stop with a checkpoint); the second aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class Run:
    """A prepared run: the model, its data blocks and the Trainer's arguments (what `train` executes)."""

    config: TrainingConfig
    base: InstalledModel
    model: Any
    tokenizer: Any
    train_blocks: Dataset
    eval_blocks: Dataset
    block_size: int
    data_fingerprint: str
    arguments: TrainingArguments = field(repr=False)

    @property
    def tokens_per_step(self) -> int:
        args = self.arguments
        return args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size * self.block_size

    def trainer(self, callbacks: list[TrainerCallback]) -> Trainer:
        """A transformers Trainer for this run with `callbacks` (and no printing)."""
        trainer = Trainer(
            model=self.model,
            args=self.arguments,
            data_collator=default_data_collator,
            train_dataset=self.train_blocks,
            eval_dataset=self.eval_blocks,
            processing_class=self.tokenizer,
            compute_metrics=_next_token_accuracy,
            preprocess_logits_for_metrics=_predicted_tokens,
            callbacks=callbacks,
        )
        trainer.remove_callback(PrinterCallback)
        return trainer


def prepare(
    config: TrainingConfig, *, dataset: Dataset | None = None, store: ModelStore | None = None, fresh: bool = True
) -> Run:
    """Load the base model and the data and build the Trainer's arguments; `fresh` clears the run folder first."""
    store = store or ModelStore()
    base = store.get(config.model)
    if base.task not in (None, text.TASK):
        raise WrongTaskError(f"{config.model} is a {base.task} model; training needs a {text.TASK} model.")
    if dataset is None and config.data is None:
        raise InvalidInputError("No training data: set data (a file or folder) or pass a Dataset.")
    run_dir = config.run_dir
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = select_device(config.device)
    documents = load_documents(
        dataset if dataset is not None else config.data,
        text_column=config.text_column,
        documents=config.documents,
        cache_dir=run_dir / "data-cache",
    )
    model, tokenizer = text.load_causal_lm(Path(base.path), device="cpu", dtype=torch.float32, use_safetensors=True)
    cap = CPU_BLOCK_CAP if device == "cpu" else ACCELERATOR_BLOCK_CAP
    block_size = config.block_size or min(context_length(model, tokenizer), cap)
    if block_size > context_length(model, tokenizer):
        raise InvalidInputError(
            f"block_size {block_size} is longer than {config.model} reads ({context_length(model, tokenizer)} tokens)."
        )
    tokens = tokenize(documents, tokenizer)
    blocks = pack(tokens, block_size)
    if len(blocks) < 2:
        raise InvalidInputError(
            f"The data is too short: {sum(map(len, tokens['input_ids']))} tokens, but training needs at least "
            f"two blocks of {block_size} tokens (one is held out for validation). Add text or lower block_size."
        )
    train_blocks, eval_blocks = split(blocks, config.validation_split, config.seed)
    if config.lora:
        model = _with_lora(model, config)
    return Run(
        config=config,
        base=base,
        model=model,
        tokenizer=tokenizer,
        train_blocks=train_blocks,
        eval_blocks=eval_blocks,
        block_size=block_size,
        data_fingerprint=fingerprint(documents),
        arguments=training_arguments(config, run_dir / "checkpoints", device),
    )


def _with_lora(model: Any, config: TrainingConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:
        raise InvalidInputError(
            f"LoRA cannot be applied to {config.model}: {exc}. Train it fully (lora=False)."
        ) from exc


def training_arguments(config: TrainingConfig, output_dir: Path, device: str) -> TrainingArguments:
    """The Trainer's arguments for `config`: evaluation and checkpoints by steps, the best by validation loss."""
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.lr,
        lr_scheduler_type=config.lr_schedule,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        seed=config.seed,
        eval_strategy="steps",
        eval_steps=config.eval_every,
        save_strategy="steps",
        save_steps=config.save_every or config.eval_every,
        save_total_limit=config.keep_checkpoints,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        restore_callback_states_from_checkpoint=True,
        logging_strategy="steps",
        logging_steps=1,
        logging_nan_inf_filter=False,
        report_to="none",
        disable_tqdm=True,
        use_cpu=device == "cpu",
        bf16=device.startswith("cuda") and torch.cuda.is_bf16_supported(),
    )


def train(
    config: TrainingConfig,
    *,
    dataset: Dataset | None = None,
    resume: bool = False,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    store: ModelStore | None = None,
) -> TrainingResult:
    """Fine-tune `config.model` on the data and register the result in the store as ``local/<name>``.

    `resume=True` continues from the run's last checkpoint (NotFoundError when there is none; the data
    must be the same). Raises CancelledError when stopped, TrainingDivergedError on a non-finite loss.
    """
    with quiet("transformers", "datasets"):
        return _train(config, dataset, resume, on_event, cancel or threading.Event(), store or ModelStore())


def _train(
    config: TrainingConfig,
    dataset: Dataset | None,
    resume: bool,
    on_event: EventCallback | None,
    cancel: threading.Event,
    store: ModelStore,
) -> TrainingResult:
    run_dir = config.run_dir
    state_file = run_dir / "run.json"
    checkpoint = last_checkpoint(config) if resume else None
    if resume and checkpoint is None:
        raise NotFoundError(f"No checkpoint to resume in {run_dir / 'checkpoints'}; start the run without resume.")
    run = prepare(config, dataset=dataset, store=store, fresh=not resume)
    if resume and state_file.is_file():
        saved = json.loads(state_file.read_text(encoding="utf-8"))["data_fingerprint"]
        if saved != run.data_fingerprint:
            raise InvalidInputError(
                f"The data changed since the run in {run_dir} started, so it cannot resume; start it again."
            )
    state_file.write_text(
        json.dumps(
            {"config": config.to_dict(), "data_fingerprint": run.data_fingerprint, "base_commit": run.base.commit}
        ),
        encoding="utf-8",
    )
    events = EventsCallback(config, run.tokens_per_step, on_event, cancel)
    callbacks: list[TrainerCallback] = [events]
    if config.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = run.trainer(callbacks)
    emit(
        on_event,
        Log(
            TASK,
            f"{'Resuming' if resume else 'Training'} {config.model} ({'LoRA' if config.lora else 'full'}) on "
            f"{len(run.train_blocks)} blocks of {run.block_size} tokens, {len(run.eval_blocks)} held out",
        ),
    )
    start = time.perf_counter()
    with _sigint_cancels(cancel):
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    last = last_checkpoint(config)
    if events.diverged:
        kept = f"The last good checkpoint is {last}." if last else "No checkpoint had been saved yet."
        raise TrainingDivergedError(
            f"Training diverged: {events.diverged}. {kept} Lower the learning rate "
            f"(now {config.lr}) or add warmup_steps, then start again."
        )
    if events.cancelled:
        emit(on_event, Log(TASK, f"Stopped at step {trainer.state.global_step}; checkpoint saved in {last}"))
        raise CancelledError(
            f"Training stopped at step {trainer.state.global_step}; the checkpoint {last} was saved. Resume with "
            "resume=True (CLI: --resume)."
        )
    result = _finish(run, trainer, store, time.perf_counter() - start)
    emit(on_event, Done(TASK, result))
    return result


def last_checkpoint(config: TrainingConfig) -> Path | None:
    """The run's latest checkpoint folder (what ``resume=True`` continues from), or None."""
    folder = config.run_dir / "checkpoints"
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    return Path(last) if last else None


def _finish(run: Run, trainer: Trainer, store: ModelStore, elapsed: float) -> TrainingResult:
    """Save the (best, LoRA-merged) model as safetensors and register it with its provenance."""
    config, state = run.config, trainer.state
    history = [{"step": entry["step"], **metric_values(entry)} for entry in state.log_history if metric_values(entry)]
    best_step = state.best_global_step or None
    evals = [entry for entry in history if "eval_loss" in entry]
    final = next((e for e in evals if e["step"] == best_step), evals[-1] if evals else {})
    metrics = {key: final[key] for key in ("eval_loss", "perplexity", "accuracy") if key in final}
    result = TrainingResult(
        model=None,
        config=config,
        run_dir=config.run_dir,
        steps=state.global_step,
        best_step=best_step,
        metrics=metrics,
        history=history,
        data_fingerprint=run.data_fingerprint,
        elapsed_s=elapsed,
    )
    if not trainer.is_world_process_zero():
        return result
    folder = config.run_dir / "model"
    if folder.exists():
        shutil.rmtree(folder)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if config.lora:
        model = model.merge_and_unload()
    model.save_pretrained(folder)
    run.tokenizer.save_pretrained(folder)
    record = manifests.Manifest(
        kind="model",
        model=run.base.repo_id,
        revision=run.base.commit,
        parameters={"training": config.to_dict(), "data_fingerprint": run.data_fingerprint},
        seed=config.seed,
    )
    result.model = store.register_local(
        config.model_name,
        folder,
        task=text.TASK,
        source="custom",
        description=f"{config.model} fine-tuned ({'LoRA' if config.lora else 'full'}) on {config.data or 'a Dataset'}",
        metadata={"manifest": record.to_dict(), "metrics": metrics, "history": history, "best_step": best_step},
    )
    shutil.rmtree(folder)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m creator_kit.train run.json [--resume]`` (and the same under ``accelerate launch``)."""
    parser = argparse.ArgumentParser(prog="python -m creator_kit.train", description=__doc__.split("\n")[0])
    parser.add_argument("config", help="a TrainingConfig as JSON (TrainingConfig.to_json())")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    args = parser.parse_args(argv)
    reporter = TqdmReporter(file=sys.stderr)
    try:
        result = train(TrainingConfig.from_json(args.config), resume=args.resume, on_event=reporter)
    except CreatorKitError as error:
        print(f"creator-kit: error: {error}", file=sys.stderr)
        return error.exit_code
    finally:
        reporter.close()
    if result.model is not None:
        print(f"{result.model.repo_id}: {result.steps} steps, validation {result.metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
