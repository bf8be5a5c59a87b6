"""A fine-tuning run: `prepare` loads the base model and the data, `train` runs the transformers Trainer with
Creator Kit's callbacks and registers the best checkpoint as a model of the store (see the package's docstring)."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creator_kit.core import files
from creator_kit.core.errors import (
    CancelledError,
    InvalidInputError,
    TrainingDivergedError,
    WrongTaskError,
)
from creator_kit.core.events import Done, EventCallback, Log, emit
from creator_kit.core.quiet import quiet
from creator_kit.core.words import with_article
from creator_kit.engines import manifest as manifests
from creator_kit.library.cache import InstalledModel
from creator_kit.library.catalog import TEXT_GENERATION
from creator_kit.library.devices import select_device
from creator_kit.library.store import ModelStore
from creator_kit.train.checkpoints import OPERATION, RUN_RECORD, last_checkpoint, mark_finished, start_run
from creator_kit.train.config import TrainingConfig, TrainingResult, metric_values
from creator_kit.train.data import context_length, fingerprint, load_documents, pack, split, tokenize

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

CPU_BLOCK_CAP = 256
ACCELERATOR_BLOCK_CAP = 1024

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

        from creator_kit.train.callbacks import next_token_accuracy, predicted_tokens

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
        raise WrongTaskError(
            f"{config.model} is {with_article(str(base.task))} model; training needs a {TEXT_GENERATION} model."
        )
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

    from creator_kit.engines import text

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

    from creator_kit.train.callbacks import EventsCallback, sigint_cancels

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
    if process.is_main_process:
        mark_finished(config)
    emit(on_event, Done(OPERATION, result))
    return result


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
