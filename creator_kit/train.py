"""Fine-tuning text models on your own data: full or LoRA, live metrics, checkpoints and resume.

    config = TrainingConfig(model="distilbert/distilgpt2", data="stories.txt", name="stories", epochs=2)
    result = train(config, on_event=TqdmReporter())
    result.model.repo_id                          # 'local/stories': in ModelStore().installed(), status 'custom'
    text.generate("Once upon a time", model=result.model.repo_id)

Data (`train_data`): text, table or folder files, or a ``datasets.Dataset`` passed as ``dataset=``,
packed into blocks of the model's context length (capped at 256 tokens on CPU, 1024 elsewhere).

Training is the transformers Trainer with the callbacks of `train_callbacks`. Events (operation
``"train"``): ``Progress`` (unit ``"step"``) after every optimizer step; ``Metric`` with train_loss,
learning_rate, grad_norm, epoch, tokens_per_s and eta_s after every step, and eval_loss, perplexity,
accuracy (next token) and best_step after every evaluation; ``Preview`` with ``{"prompt", "text"}``, a
greedy sample from the fixed `sample_prompt`, after every evaluation; ``Log`` lines; ``Done``.

Run state lives in ``<outputs>/runs/<name>/`` (``get_settings().outputs_dir``):

    run.json                          the config, the data fingerprint and the base model commit
    checkpoints/checkpoint-<step>/    Trainer checkpoints: weights (or the LoRA adapter), optimizer,
                                      scheduler, RNG states and trainer_state.json (metrics history)
    data-cache/                       the datasets cache of this run

A fresh run clears that folder (only if Creator Kit made it), but never replaces an existing model or
a stopped run's checkpoints unless `overwrite` is set (`train_checkpoints`); ``resume=True`` continues
from the newest complete checkpoint, ending as an uninterrupted run would. The best checkpoint by
validation loss (kept with the latest `keep_checkpoints - 1`) becomes the model. `cancel` (the panel's
Stop) or one Ctrl-C saves a checkpoint after the current step and raises CancelledError; a second
Ctrl-C aborts at once. A non-finite loss raises TrainingDivergedError, keeping the last good checkpoint.

Scaling: ``creator-kit train config run.json`` runs a saved `TrainingConfig.to_json()`, and so does
this module, so the same run goes data-parallel with ``accelerate launch --multi_gpu --num_processes N
-m creator_kit.train run.json`` (GPUs, or CPU processes over gloo; the Trainer runs on accelerate). The
main process prepares the run folder first, reports, and registers the model; tested with two CPU processes.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creator_kit import files, validate
from creator_kit import manifest as manifests
from creator_kit.cache import InstalledModel
from creator_kit.catalog import TEXT_GENERATION
from creator_kit.config import get_settings, select_device
from creator_kit.errors import (
    CancelledError,
    InvalidInputError,
    NotFoundError,
    TrainingDivergedError,
    WrongTaskError,
)
from creator_kit.events import Done, EventCallback, Log, emit
from creator_kit.quiet import quiet
from creator_kit.store import ModelStore
from creator_kit.train_checkpoints import OPERATION, RUN_RECORD, last_checkpoint, start_run
from creator_kit.train_data import context_length, fingerprint, load_documents, pack, split, tokenize

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

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
        counts = ("epochs", "batch_size", "gradient_accumulation", "eval_every", "keep_checkpoints", "lora_r")
        for name in (*counts, "lora_alpha", "sample_tokens"):
            validate.whole_number(name, getattr(self, name), 1)
        for name in ("max_steps", "save_every", "early_stopping_patience", "block_size"):
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
        if not self.sample_prompt.strip():
            raise InvalidInputError("sample_prompt must be non-empty text.")

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
        from transformers import PrinterCallback, Trainer, default_data_collator

        from creator_kit.train_callbacks import next_token_accuracy, predicted_tokens

        trainer = Trainer(
            model=self.model,
            args=self.arguments,
            data_collator=default_data_collator,
            train_dataset=self.train_blocks,
            eval_dataset=self.eval_blocks,
            processing_class=self.tokenizer,
            compute_metrics=next_token_accuracy,
            preprocess_logits_for_metrics=predicted_tokens,
            callbacks=callbacks,
        )
        trainer.remove_callback(PrinterCallback)
        return trainer


def prepare(config: TrainingConfig, *, dataset: Dataset | None = None, store: ModelStore | None = None) -> Run:
    """Load the base model and the data and build the Trainer's arguments."""
    store = store or ModelStore()
    base = store.check_before_load(config.model)  # no remote code, no damaged file: before any training
    if base.task not in (None, TEXT_GENERATION):
        raise WrongTaskError(f"{config.model} is a {base.task} model; training needs a {TEXT_GENERATION} model.")
    if dataset is None and config.data is None:
        raise InvalidInputError("No training data: set data (a file or folder) or pass a Dataset.")
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    device = select_device(config.device)
    documents = load_documents(
        dataset if dataset is not None else config.data,
        text_column=config.text_column,
        documents=config.documents,
        cache_dir=run_dir / "data-cache",
    )
    import torch

    from creator_kit import text

    model, tokenizer = text.load_causal_lm(Path(base.path), device="cpu", dtype=torch.float32, use_safetensors=True)
    # Checkpoints leave out tied weights (GPT-2's lm_head is its embedding): declared, so that loading the best
    # checkpoint ties them again instead of warning that lm_head.weight is missing.
    model._keys_to_ignore_on_save = {*(model._keys_to_ignore_on_save or ()), *model.all_tied_weights_keys}
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
    import torch
    from transformers import TrainingArguments

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
        ddp_find_unused_parameters=False,  # every trainable weight takes part (full or LoRA): no extra graph walk
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
    from accelerate import PartialState

    process = PartialState(cpu=select_device(config.device) == "cpu")  # this process of `accelerate launch`, or one
    on_event = on_event if process.is_main_process else None  # the main process reports for the run
    with process.main_process_first():  # it prepares the run folder and the data cache; the others then read them
        checkpoint = start_run(config, store, resume, on_event) if process.is_main_process else last_checkpoint(config)
        run = prepare(config, dataset=dataset, store=store)
    state_file = config.run_dir / RUN_RECORD
    if process.is_main_process:
        if resume and files.read_json(state_file).get("data_fingerprint") != run.data_fingerprint:
            raise InvalidInputError(
                f"The data changed since the run in {config.run_dir} started, so it cannot resume; start it again."
            )
        run_state = {"config": config.to_dict(), "data_fingerprint": run.data_fingerprint}
        files.write_json(state_file, dict(run_state, base_commit=run.base.commit, processes=process.num_processes))
    from transformers import EarlyStoppingCallback

    from creator_kit.train_callbacks import EventsCallback, sigint_cancels

    events = EventsCallback(config, run.tokens_per_step, on_event, cancel)
    callbacks: list[TrainerCallback] = [events]
    if config.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = run.trainer(callbacks)
    emit(
        on_event,
        Log(
            OPERATION,
            f"{'Resuming' if resume else 'Training'} {config.model} ({'LoRA' if config.lora else 'full'}) on "
            f"{len(run.train_blocks)} blocks of {run.block_size} tokens, {len(run.eval_blocks)} held out",
        ),
    )
    start = time.perf_counter()
    with sigint_cancels(cancel):
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    last = last_checkpoint(config)
    if events.diverged:
        kept = f"The last good checkpoint is {last}." if last else "No checkpoint had been saved yet."
        raise TrainingDivergedError(
            f"Training diverged: {events.diverged}. {kept} Lower the learning rate "
            f"(now {config.lr}) or add warmup_steps, then start again."
        )
    if events.cancelled:
        emit(on_event, Log(OPERATION, f"Stopped at step {trainer.state.global_step}; checkpoint saved in {last}"))
        raise CancelledError(
            f"Training stopped at step {trainer.state.global_step}; the checkpoint {last} was saved. Resume with "
            "resume=True (CLI: --resume)."
        )
    result = _finish(run, trainer, store, time.perf_counter() - start)
    emit(on_event, Done(OPERATION, result))
    return result


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
        task=TEXT_GENERATION,
        source="custom",
        description=f"{config.model} fine-tuned ({'LoRA' if config.lora else 'full'}) on {config.data or 'a Dataset'}",
        metadata={
            "manifest": record.to_dict(),
            "metrics": metrics,
            "history": history,
            "best_step": best_step,
            "processes": trainer.args.world_size,
        },
    )
    shutil.rmtree(folder)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m creator_kit.train run.json [--resume]``: ``creator-kit train config``, for ``accelerate launch``."""
    from creator_kit.cli import main as cli_main

    return cli_main(["train", "config", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
