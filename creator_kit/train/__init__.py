"""Training: fine-tuning text models on your own data: full or LoRA, live metrics, checkpoints and resume.

    config = TrainingConfig(model="distilbert/distilgpt2", data="stories.txt", name="stories", epochs=2)
    result = train(config, on_event=TqdmReporter())
    result.model.repo_id                          # 'local/stories': in ModelStore().installed(), status 'custom'
    text.generate("Once upon a time", model=result.model.repo_id)

Data (`train.data`): text, table or folder files, or a ``datasets.Dataset`` passed as ``dataset=``,
packed into blocks of the model's context length (capped at 256 tokens on CPU, 1024 elsewhere).

Training is the transformers Trainer with the callbacks of `train.callbacks`. Events (operation
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
a stopped run's checkpoints unless `overwrite` is set (`train.checkpoints`); ``resume=True`` continues
from the newest complete checkpoint, ending as an uninterrupted run would (`stopped_checkpoint` says whether
there is a stopped run to continue: a finished run is marked so in ``run.json``). The best checkpoint by
validation loss (kept with the latest `keep_checkpoints - 1`) becomes the model. `cancel` (the panel's
Stop) or one Ctrl-C saves a checkpoint after the current step and raises CancelledError; a second
Ctrl-C aborts at once. A non-finite loss raises TrainingDivergedError, keeping the last good checkpoint.

Scaling: ``creator-kit train config run.json`` runs a saved `TrainingConfig.to_json()`, and so does
``python -m creator_kit train config run.json``, so the same run goes data-parallel with ``accelerate launch
--multi_gpu --num_processes N -m creator_kit train config run.json`` (GPUs, or CPU processes over gloo; the
Trainer runs on accelerate). The main process prepares the run folder first, reports, and registers the model;
tested with two CPU processes.

Modules, bottom up: `config` (the settings and the result), `data`, `checkpoints` (the run folder), `callbacks`
(the Trainer's steps as events), `trainer` (prepare, train, register). The package may import `core`, `library`
and `engines` (to sample from the model it trains), never the workflows or front ends above it.
"""

from creator_kit.train.checkpoints import last_checkpoint, stopped_checkpoint
from creator_kit.train.config import TrainingConfig, TrainingResult
from creator_kit.train.trainer import train

__all__ = ["TrainingConfig", "TrainingResult", "last_checkpoint", "stopped_checkpoint", "train"]
