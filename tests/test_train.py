"""Fine-tuning the tiny GPT-2 for real: loss, events, checkpoints, resume, divergence, LoRA, bad data, CLI."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import threading
from pathlib import Path

import pytest
from conftest import TINY_GPT2
from safetensors.torch import load_file

from creator_kit import CancelledError, InvalidInputError, WrongTaskError, text
from creator_kit.cli import main as cli_main
from creator_kit.core.config import get_settings
from creator_kit.core.errors import NotFoundError, TrainingDivergedError
from creator_kit.core.events import Done, Log, Metric, Preview, Progress
from creator_kit.train import TrainingConfig, train
from creator_kit.train.data import load_documents

TRAIN_KEYS = {"train_loss", "learning_rate", "grad_norm", "epoch", "tokens_per_s", "eta_s"}
EVAL_KEYS = {"eval_loss", "perplexity", "accuracy", "epoch", "best_step"}


def config(data: Path | None, **overrides) -> TrainingConfig:
    settings = dict(
        model=TINY_GPT2,
        data=str(data) if data else None,
        name="tuned",
        block_size=32,
        batch_size=4,
        lr=2e-3,
        max_steps=8,
        eval_every=4,
    )
    return TrainingConfig(**{**settings, **overrides})


def weights(model_path: str | Path) -> dict:
    return load_file(Path(model_path) / "model.safetensors")


def train_losses(history: list[dict]) -> list[float]:
    return [entry["train_loss"] for entry in history if "train_loss" in entry]


def eval_losses(history: list[dict]) -> list[float]:
    return [entry["eval_loss"] for entry in history if "eval_loss" in entry]


# ---------------------------------------------------------------------------------------------- a full run


def test_loss_goes_down_and_the_model_lands_in_the_store_and_generates(installed_store, training_text):
    result = train(config(training_text, max_steps=16))

    losses = train_losses(result.history)
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.5  # it learned the corpus
    evals = eval_losses(result.history)
    assert len(evals) == 4 and evals[-1] < evals[0]
    assert result.best_step == 16 and result.metrics["eval_loss"] == pytest.approx(min(evals))
    assert result.metrics["perplexity"] == pytest.approx(math.exp(result.metrics["eval_loss"]))

    installed = {m.repo_id: m for m in installed_store.installed()}
    model = installed["local/tuned"]
    assert (model.status, model.source, model.task) == ("custom", "custom", "text-generation")
    files = {p.name for p in Path(model.path).iterdir()}
    assert "model.safetensors" in files and not any(name.endswith(".bin") for name in files)
    documents = (training_text.read_text(encoding="utf-8")).splitlines()
    expected = hashlib.sha256(b"".join(doc.encode() + b"\0" for doc in documents)).hexdigest()
    manifest = model.metadata["manifest"]
    assert manifest["parameters"]["data_fingerprint"] == expected == result.data_fingerprint
    assert manifest["parameters"]["training"] == result.config.to_dict()
    assert (manifest["model"], manifest["revision"]) == (TINY_GPT2, installed_store.get(TINY_GPT2).commit)
    assert model.metadata["history"] == result.history and model.metadata["best_step"] == 16

    base = weights(installed_store.get(TINY_GPT2).path)
    tuned = weights(model.path)
    assert tuned.keys() == base.keys()
    assert any(not tuned[k].equal(base[k]) for k in base)
    generated = text.generate("Once upon a time", model="local/tuned", max_new_tokens=8, seed=0)
    assert generated.new_tokens > 0 and generated.manifest.model == "local/tuned"
    assert (get_settings().outputs_dir / "runs" / "tuned" / "checkpoints" / "checkpoint-16").is_dir()


def test_events_arrive_in_order_with_the_right_keys(installed_store, training_text):
    events = []
    result = train(config(training_text, max_steps=6, eval_every=3, sample_prompt="A painter"), on_event=events.append)

    assert isinstance(events[0], Log) and isinstance(events[-1], Done) and events[-1].result is result
    steps = [e.completed for e in events if isinstance(e, Progress)]
    assert steps == [0, 1, 2, 3, 4, 5, 6]
    assert all(e.unit == "step" and e.total == 6 for e in events if isinstance(e, Progress))
    metrics = [e for e in events if isinstance(e, Metric)]
    assert [m.step for m in metrics] == sorted(m.step for m in metrics)
    train_metrics = [m for m in metrics if "train_loss" in m.values]
    eval_metrics = [m for m in metrics if "eval_loss" in m.values]
    assert [m.step for m in train_metrics] == [1, 2, 3, 4, 5, 6]
    assert all(set(m.values) == TRAIN_KEYS for m in train_metrics)
    assert [m.step for m in eval_metrics] == [3, 6]
    assert all(set(m.values) == EVAL_KEYS for m in eval_metrics)
    assert train_metrics[-1].values["eta_s"] == 0 and train_metrics[0].values["eta_s"] > 0
    assert all(m.values["tokens_per_s"] > 0 for m in train_metrics)
    for m in eval_metrics:
        assert m.values["perplexity"] == pytest.approx(math.exp(m.values["eval_loss"]))
        assert 0 <= m.values["accuracy"] <= 1

    # At an evaluation step: the step's progress, its train metrics, the evaluation, then the sample.
    at_step_3 = [e for e in events if getattr(e, "step", getattr(e, "completed", None)) == 3]
    assert [type(e) for e in at_step_3] == [Progress, Metric, Metric, Preview]
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.step for p in previews] == [3, 6]
    assert all(p.value["prompt"] == "A painter" and isinstance(p.value["text"], str) for p in previews)


# ---------------------------------------------------------------------------------------------- stop, resume


def _cancel_at(step: int, cancel: threading.Event):
    def on_event(event):
        if isinstance(event, Progress) and event.completed == step:
            cancel.set()

    return on_event


def test_resume_ends_with_the_same_result_as_an_uninterrupted_run(installed_store, training_text):
    straight = train(config(training_text, name="straight", max_steps=8, eval_every=2))

    cancel = threading.Event()
    interrupted = config(training_text, name="interrupted", max_steps=8, eval_every=2)
    with pytest.raises(CancelledError, match="resume=True"):
        train(interrupted, on_event=_cancel_at(3, cancel), cancel=cancel)
    checkpoint = interrupted.run_dir / "checkpoints" / "checkpoint-3"
    assert {"optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"} <= {
        p.name for p in checkpoint.iterdir()
    }
    assert not installed_store.is_installed("local/interrupted")

    events = []
    resumed = train(interrupted, resume=True, on_event=events.append)

    assert [e["step"] for e in resumed.history] == [e["step"] for e in straight.history]
    assert train_losses(resumed.history) == pytest.approx(train_losses(straight.history), rel=1e-5)
    assert eval_losses(resumed.history) == pytest.approx(eval_losses(straight.history), rel=1e-5)
    assert resumed.best_step == straight.best_step and resumed.steps == 8
    first, second = weights(straight.model.path), weights(resumed.model.path)
    assert all(first[k].allclose(second[k], atol=1e-6) for k in first)
    # The resumed run replays the history it restored, so a view shows the whole curve.
    replayed = [e.step for e in events if isinstance(e, Metric) and "train_loss" in e.values]
    assert replayed == list(range(1, 9))


def test_ctrl_c_saves_a_checkpoint_and_raises_cancelled(installed_store, training_text):
    def on_event(event):
        if isinstance(event, Progress) and event.completed == 2:
            os.kill(os.getpid(), signal.SIGINT)

    run = config(training_text, max_steps=20)
    with pytest.raises(CancelledError) as error:
        train(run, on_event=on_event)
    checkpoint = run.run_dir / "checkpoints" / "checkpoint-2"
    assert str(checkpoint) in str(error.value)
    assert (checkpoint / "optimizer.pt").is_file() and (checkpoint / "scheduler.pt").is_file()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_resume_needs_a_checkpoint_and_the_same_data(installed_store, training_text, tmp_path):
    with pytest.raises(NotFoundError, match="No checkpoint to resume"):
        train(config(training_text), resume=True)

    cancel = threading.Event()
    with pytest.raises(CancelledError):
        train(config(training_text), on_event=_cancel_at(1, cancel), cancel=cancel)
    changed = tmp_path / "changed.txt"
    changed.write_text(training_text.read_text(encoding="utf-8") + "A brand new line of text.\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="data changed"):
        train(config(changed), resume=True)


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(installed_store, training_text):
    run = config(training_text, lr=1e5, max_steps=12, eval_every=1)
    with pytest.raises(TrainingDivergedError, match=r"diverged: .* was nan at step \d+\..*Lower the learning rate"):
        train(run)
    checkpoints = sorted((run.run_dir / "checkpoints").iterdir())
    assert checkpoints
    for checkpoint in checkpoints:
        assert all(tensor.isfinite().all() for tensor in weights(checkpoint).values())
    assert not installed_store.is_installed("local/tuned")


def test_early_stopping_keeps_the_best_checkpoint(installed_store, training_text):
    # A learning rate this high makes the validation loss worse after the first step.
    result = train(config(training_text, lr=10.0, max_steps=12, eval_every=1, early_stopping_patience=2))

    assert result.steps == 3 and result.best_step == 1
    evals = eval_losses(result.history)
    assert len(evals) == 3 and evals[0] < min(evals[1:])
    assert result.metrics["eval_loss"] == evals[0]
    best = weights(result.run_dir / "checkpoints" / "checkpoint-1")
    saved = weights(result.model.path)
    assert all(best[k].equal(saved[k]) for k in best)


def test_lora_trains_an_adapter_and_saves_it_merged(installed_store, training_text):
    result = train(config(training_text, lora=True, lr=1e-2, max_steps=6, eval_every=3))

    checkpoint = result.run_dir / "checkpoints" / "checkpoint-6"
    assert (checkpoint / "adapter_model.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()
    base = weights(installed_store.get(TINY_GPT2).path)
    merged = weights(result.model.path)
    assert merged.keys() == base.keys()  # merged: no lora_A / lora_B tensors left
    changed = [k for k in base if not merged[k].equal(base[k])]
    assert changed and all("attn.c_attn" in k for k in changed)  # only the LoRA target moved
    assert result.model.metadata["manifest"]["parameters"]["training"]["lora"] is True
    assert text.generate("Once upon a time", model=result.model.repo_id, max_new_tokens=4, seed=1).new_tokens > 0


# ---------------------------------------------------------------------------------------------- config


def test_config_round_trips_through_json(tmp_path):
    original = TrainingConfig(model=TINY_GPT2, data="stories.txt", lora=True, epochs=3, lr=1e-4, save_every=100)
    assert TrainingConfig.from_json(original.to_json()) == original
    path = tmp_path / "run.json"
    path.write_text(original.to_json(), encoding="utf-8")
    assert TrainingConfig.from_json(path) == original
    assert original.model_name == "gpt2-finetuned"
    assert original.run_dir == get_settings().outputs_dir / "runs" / "gpt2-finetuned"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lr": 0}, "lr must be"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"epochs": 1.5}, "epochs must be"),
        ({"documents": "page"}, "documents must be"),
        ({"lr_schedule": "zigzag"}, "lr_schedule must be"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"eval_every": 10, "save_every": 15}, "multiple of eval_every"),
    ],
)
def test_config_rejects_bad_settings(settings, message):
    with pytest.raises(InvalidInputError, match=message):
        TrainingConfig(model=TINY_GPT2, **settings)


def test_config_rejects_unknown_keys_and_bad_json():
    with pytest.raises(InvalidInputError, match=r"Unknown training setting.*learning_rate"):
        TrainingConfig.from_dict({"model": TINY_GPT2, "learning_rate": 1})
    with pytest.raises(InvalidInputError, match="invalid JSON"):
        TrainingConfig.from_json("{not json")


# ---------------------------------------------------------------------------------------------- data


def test_every_supported_data_source_loads(tmp_path):
    from datasets import Dataset

    lines = tmp_path / "lines.txt"
    lines.write_text("first story\n\n  \nsecond story\n", encoding="utf-8")
    assert list(load_documents(lines)["text"]) == ["first story", "second story"]
    assert list(load_documents(lines, documents="file")["text"]) == ["first story\n\n  \nsecond story\n"]

    folder = tmp_path / "folder"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha", encoding="utf-8")
    (folder / "nested" / "b.txt").write_text("beta", encoding="utf-8")
    (folder / "notes.md").write_text("ignored", encoding="utf-8")
    assert list(load_documents(folder, documents="file")["text"]) == ["alpha", "beta"]

    table = tmp_path / "table.csv"
    table.write_text("id,story\n1,one upon a time\n2,\n3,three\n", encoding="utf-8")
    assert list(load_documents(table, text_column="story")["text"]) == ["one upon a time", "three"]

    records = tmp_path / "records.jsonl"
    records.write_text('{"body": "x y"}\n{"body": "z"}\n', encoding="utf-8")
    assert list(load_documents(records, text_column="body")["text"]) == ["x y", "z"]

    dataset = Dataset.from_dict({"content": ["in memory", ""]})
    assert list(load_documents(dataset, text_column="content")["text"]) == ["in memory"]


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "column", "error", "message"),
    [
        ("empty.txt", "", "text", InvalidInputError, "holds no text"),
        ("blank.txt", "\n   \n\n", "text", InvalidInputError, "holds no text"),
        ("table.csv", "title,body\nhello,world\n", "story", InvalidInputError, "no column 'story'.*title, body"),
        ("numbers.csv", "story\n1\n2\n", "story", InvalidInputError, "not text"),
        ("latin1.txt", "café au lait\n".encode("latin-1"), "text", InvalidInputError, r"latin1\.txt is not UTF-8"),
        ("short.txt", "tiny\n", "text", InvalidInputError, "too short.*two blocks of 32 tokens"),
        ("book.pdf", "%PDF", "text", InvalidInputError, "unsupported data format .pdf"),
        ("empty-folder/", None, "text", InvalidInputError, "holds no .txt files"),
        ("missing.txt", None, "text", NotFoundError, "No training data at"),
    ],
)
def test_bad_data_is_refused_with_a_clear_message(installed_store, tmp_path, name, content, column, error, message):
    path = tmp_path / "data" / name
    if name.endswith("/"):
        path.mkdir(parents=True)
    elif content is not None:
        _write(path, content)
    with pytest.raises(error, match=message):
        train(config(path, text_column=column))
    assert not installed_store.is_installed("local/tuned")


def test_only_text_generation_models_train(installed_store, training_text, hub):
    installed_store.register_local("painter", hub.sources[TINY_GPT2], task="text-to-image")
    with pytest.raises(WrongTaskError, match="text-to-image"):
        train(config(training_text, model="local/painter"))


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_trains_and_prints_the_result_as_json(installed_store, training_text, capsys):
    arguments = [
        "--name",
        "from-cli",
        "--max-steps",
        "2",
        "--eval-every",
        "2",
        "--batch-size",
        "2",
        "--lr",
        "1e-3",
        "--seed",
        "3",
        "--json",
    ]
    code = cli_main(["train", "text", "--model", TINY_GPT2, "--data", str(training_text), *arguments])
    assert code == 0
    output = json.loads(capsys.readouterr().out)
    assert output["model"]["repo_id"] == "local/from-cli" and output["steps"] == 2
    assert output["config"]["seed"] == 3 and output["config"]["batch_size"] == 2
    assert installed_store.is_installed("local/from-cli")


def test_cli_reports_bad_data_in_one_line_with_exit_code_2(installed_store, tmp_path, capsys):
    empty = _write(tmp_path / "empty.txt", "")
    assert cli_main(["train", "text", "--model", TINY_GPT2, "--data", str(empty)]) == 2
    assert capsys.readouterr().err.strip().startswith("creator-kit: error:")
    assert cli_main(["train", "text", "--model", TINY_GPT2, "--data", str(empty), "--resume"]) == 3


def test_train_config_runs_a_saved_config(installed_store, training_text, tmp_path, capsys):
    """`creator-kit train config` (also `python -m creator_kit train config`, what accelerate launches)."""
    path = tmp_path / "run.json"
    path.write_text(config(training_text, name="from-json", max_steps=2, eval_every=2).to_json(), encoding="utf-8")
    assert cli_main(["train", "config", str(path)]) == 0
    assert capsys.readouterr().out.startswith("local/from-json: 2 steps")
    assert installed_store.is_installed("local/from-json")
    assert cli_main(["train", "config", str(tmp_path / "missing.json")]) == 3  # not found
