"""Training past one process with `accelerate launch`: real two-process DDP on the CPU (gloo), one model, one report."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import TINY_GPT2

from creator_kit.core.config import get_settings
from creator_kit.library.store import ModelStore
from creator_kit.train import TrainingConfig

#: The launch that runs N real processes, here on the CPU too (`--cpu --num_processes 2` silently runs one).
LAUNCH = ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"]


def test_two_processes_train_one_model_and_only_the_main_one_reports(installed_store, training_text, tmp_path):
    config = TrainingConfig(
        model=TINY_GPT2, data=str(training_text), name="ddp", block_size=32, batch_size=4, lr=2e-3, max_steps=4,
        eval_every=2,
    )  # fmt: skip
    run = tmp_path / "run.json"
    run.write_text(config.to_json(), encoding="utf-8")
    settings = get_settings()
    env = dict(os.environ, CREATOR_KIT_MODELS_DIR=str(settings.models_dir), OMP_NUM_THREADS="1")
    env["CREATOR_KIT_OUTPUTS_DIR"] = str(settings.outputs_dir)
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", *LAUNCH, "--dynamo_backend", "no", "-m",
         "creator_kit", "train", "config", str(run)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("local/ddp: 4 steps") == 1  # the main process registers and reports
    assert launched.stderr.count("[train] Training") == 1
    assert "missing keys" not in launched.stderr and "find_unused_parameters" not in launched.stderr
    model = ModelStore().get("local/ddp")
    assert model.metadata["processes"] == 2 and model.metadata["best_step"] == 4
