"""Starter models built for real: installed and labelled, the text one trained, every workflow runs on them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from creator_kit import image, text, video
from creator_kit.cli import main as cli_main
from creator_kit.core.config import configure
from creator_kit.core.events import Done, Log, Progress
from creator_kit.library.store import ModelStore
from creator_kit.starters.build import DESCRIPTION, build_starters, choose_models

TASKS = {"local/starter-text": "text-generation", "local/starter-image": "text-to-image"}
TASKS["local/starter-video"] = "text-to-video"
TASKS["local/starter-tiny-autoencoder"] = "autoencoder"  # the pictures' companion


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list, list]:
    """The starters built once into a fresh store on one torch thread: (models dir, models, events)."""
    import torch

    models_dir = tmp_path_factory.mktemp("starters") / "models"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    events: list = []
    models = build_starters(ModelStore(models_dir, offline=True), on_event=events.append)
    yield models_dir, models, events
    torch.set_num_threads(threads)


@pytest.fixture
def starters(built, tmp_path) -> ModelStore:
    """A copy of the built store, made the configured one, with outputs under this test's folder."""
    models = shutil.copytree(built[0], tmp_path / "models", symlinks=True)
    configure(models_dir=models, outputs_dir=tmp_path / "outputs", offline=True)
    return ModelStore()


def test_the_starters_are_installed_and_labelled(built):
    models_dir, models, events = built
    assert {m.repo_id: m.task for m in models} == TASKS
    assert {m.repo_id: (m.status, m.source) for m in ModelStore(models_dir).installed()} == {
        repo_id: ("starter", "starter") for repo_id in TASKS
    }
    assert {m.description for m in models} == {DESCRIPTION}
    assert [(e.completed, e.total) for e in events if isinstance(e, Progress) and e.operation == "starter"] == [
        (done, len(TASKS)) for done in range(len(TASKS) + 1)
    ]
    built_lines = [
        e.message for e in events if isinstance(e, Log) and e.operation == "starter" and "built in" in e.message
    ]
    assert [line.split(":")[0] for line in built_lines] == list(TASKS)
    assert isinstance(events[-1], Done) and events[-1].result == models


def test_the_text_starter_was_trained_and_its_loss_went_down(built):
    text_model = built[1][0]
    losses = [entry["train_loss"] for entry in text_model.metadata["history"] if "train_loss" in entry]
    assert len(losses) == text_model.metadata["steps"] > 10
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0
    assert text_model.metadata["metrics"]["eval_loss"] < losses[0]


def test_the_text_starter_writes_until_max_new_tokens_and_streams_piece_by_piece(starters):
    # Trained on one document per line, it learned the end-of-text token after every sentence and stopped
    # after 3-14 tokens; and with 128 positions, 100 new tokens fitted only a short prompt.
    for seed in range(3):
        written = text.generate("Once upon a time", model="local/starter-text", max_new_tokens=100, seed=seed)
        assert written.new_tokens >= 60 and written.text.count("\n") >= 2, written.text  # a few lines of prose

    long_prompt = "The lighthouse keeper climbed the stairs every evening and cleaned the big glass lamp. " * 4
    pieces = text.stream(long_prompt, model="local/starter-text", max_new_tokens=200, seed=0)
    chunks = list(pieces)
    assert pieces.result.new_tokens >= 120 and len(chunks) >= 40
    assert "".join(chunks) == pieces.result.text


def test_text_image_and_video_workflows_run_on_the_starters(starters, tmp_path):
    written = text.generate("Once upon a time", model="local/starter-text", max_new_tokens=16, seed=1)
    assert written.new_tokens > 0 and written.text.strip()

    picture = image.generate("a lighthouse at dawn", model="local/starter-image", steps=2, seed=0)
    assert picture.image.size == (64, 64)  # the native size
    with Image.open(picture.save(tmp_path, name="lighthouse")[0]) as png:
        assert png.format == "PNG" and png.size == (64, 64)

    tiny = {"duration": 1.0, "fps": 4, "width": 64, "height": 64, "steps": 2, "seed": 0}
    board = video.generate(
        "a fox by the river", model="local/starter-image", text_model="local/starter-text", n_scenes=2, density=1,
        out=tmp_path / "board.mp4", **tiny,
    )  # fmt: skip
    assert board.path.is_file() and len(board.scenes) == 2 and board.manifest.parameters["mode"] == "storyboard"
    native = video.generate("a fox running", model="local/starter-video", out=tmp_path / "native.mp4", **tiny)
    assert native.path.is_file() and len(native.frames) == 4 and native.frames[0].shape == (64, 64, 3)
    assert native.manifest.parameters["mode"] == "native"


def test_a_second_call_keeps_them_and_force_builds_them_again(starters):
    before = {m.repo_id: m.commit for m in starters.installed()}
    events: list = []
    assert {m.repo_id: m.commit for m in build_starters(starters, on_event=events.append)} == before
    assert [e.message for e in events if isinstance(e, Log)] == [f"{r}: already installed, kept" for r in TASKS]

    events.clear()
    rebuilt = build_starters(starters, on_event=events.append, force=True)
    assert sum("built in" in e.message for e in events if isinstance(e, Log) and e.operation == "starter") == len(TASKS)
    assert [m.status for m in rebuilt] == ["starter"] * len(TASKS)
    # The pictures' random weights are seeded: the same files, so the same content-derived commit.
    assert {m.repo_id: m.commit for m in rebuilt[1:]} == {r: c for r, c in before.items() if r != "local/starter-text"}


def test_cli_lists_the_starters_as_json_and_says_what_they_are(starters, capsys):
    assert cli_main(["models", "starter", "--json"]) == 0
    captured = capsys.readouterr()
    assert {m["repo_id"]: m["status"] for m in json.loads(captured.out)} == dict.fromkeys(TASKS, "starter")
    assert "starter models" in captured.err and "download a real model" in captured.err

    assert cli_main(["models", "starter"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MODEL", "TASK", "STATUS", "ON", "DISK", "COMMIT"]
    assert [line.split()[0] for line in lines[1 : 1 + len(TASKS)]] == list(TASKS)
    assert lines[-1].startswith("These are starter models")


def test_choose_models_prefers_downloaded_models_and_builds_only_the_missing_starters(installed_store, tmp_path):
    events: list = []
    assert choose_models(["text-to-image"], installed_store, on_event=events.append) == {"text-to-image": "tiny/sd"}
    assert not events  # nothing to build, nothing to say

    empty = ModelStore(tmp_path / "empty", offline=True)
    chosen = choose_models(["text-to-image"], empty, on_event=events.append)

    assert chosen == {"text-to-image": "local/starter-image"}
    # The text starter was not needed; the pictures' tiny autoencoder comes with the picture starter.
    assert [m.repo_id for m in empty.installed()] == ["local/starter-image", "local/starter-tiny-autoencoder"]
    notice = next(e.message for e in events if isinstance(e, Log))
    assert "No text-to-image model downloaded: using starter models" in notice and "models download" in notice
