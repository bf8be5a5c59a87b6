"""The Trainer callbacks of a fine-tuning run: its steps, logs and evaluations as Creator Kit events.

`EventsCallback` reports Progress after every optimizer step, Metric values (train and eval, with the
tokens/s and the ETA), a greedy sample as a Preview after every evaluation, and stops the run
cleanly on cancel (saving a checkpoint) or when the loss or the weights stop being finite.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import TrainerCallback

from creator_kit.core.events import Eta, EventCallback, Metric, Preview, Progress, emit
from creator_kit.train.checkpoints import CHECKPOINT_COMPLETE, OPERATION
from creator_kit.train.config import metric_values

if TYPE_CHECKING:
    from creator_kit.train.config import TrainingConfig


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
        self._eta = Eta()
        self._step_started = time.perf_counter()
        self._step_seconds = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._eta = Eta(state.global_step)  # the rate counts from here: steps restored by a resume are not new
        for entry in state.log_history:  # a resumed run replays its history, so views show whole curves
            self._report(entry["step"], metric_values(entry))
        emit(self.on_event, Progress(OPERATION, state.global_step, state.max_steps, unit="step"))

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._step_seconds = time.perf_counter() - self._step_started
        emit(self.on_event, Progress(OPERATION, state.global_step, state.max_steps, unit="step"))
        if self.cancel.is_set():
            self.cancelled = True
            control.should_save, control.should_training_stop = True, True
        elif control.should_save and not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            self._diverge(control, f"the weights held NaN or inf after step {state.global_step}")

    def on_save(self, args, state, control, **kwargs):
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        (checkpoint / CHECKPOINT_COMPLETE).touch()  # the Trainer has saved all of it: resume may use it

    def on_log(self, args, state, control, logs=None, **kwargs):
        values = metric_values(logs or {})
        broken = [name for name in ("train_loss", "grad_norm", "eval_loss") if not math.isfinite(values.get(name, 0.0))]
        if broken:
            self._diverge(control, f"{broken[0]} was {values[broken[0]]} at step {state.global_step}")
        elif "train_loss" in values:
            values["tokens_per_s"] = self.tokens_per_step / self._step_seconds if self._step_seconds else 0.0
            values["eta_s"] = self._eta.update(state.global_step, state.max_steps) or 0.0
        self._report(state.global_step, values)

    def on_evaluate(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.diverged is None:
            emit(self.on_event, Preview(OPERATION, state.global_step, self._sample(model, processing_class)))

    def _report(self, step: int, values: dict[str, float]) -> None:
        if "eval_loss" in values:
            if self.best is None or values["eval_loss"] < self.best[0]:
                self.best = (values["eval_loss"], step)
            values["best_step"] = float(self.best[1])
        if values:
            emit(self.on_event, Metric(OPERATION, step, values))

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


def predicted_tokens(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return logits.argmax(dim=-1)


def next_token_accuracy(prediction: Any) -> dict[str, float]:
    predicted, labels = prediction.predictions[:, :-1], prediction.label_ids[:, 1:]
    return {"accuracy": float(np.mean(predicted == labels))}


@contextlib.contextmanager
def sigint_cancels(cancel: threading.Event) -> Iterator[None]:
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
