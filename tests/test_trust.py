"""Trust: names that could reach outside their folder, silent overwrites, torn checkpoints, reproduce on odd files,
and operating-system errors, each ending in the exit-code contract with nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_GPT2, TINY_SD
from PIL import Image
from test_cli import assert_one_line_error, run_cli

from creator_kit import manifest, reproduce, text
from creator_kit.cli import build_parser
from creator_kit.cli import main as cli_main
from creator_kit.core.config import get_settings
from creator_kit.core.errors import OutputExistsError
from creator_kit.core.events import Log
from creator_kit.train import TrainingConfig, train
from creator_kit.train.checkpoints import last_checkpoint


def train_cli(training_text: Path, *args: str) -> int:
    base = ["train", "text", "--model", TINY_GPT2, "--data", str(training_text), "--max-steps", "2"]
    return cli_main([*base, "--eval-every", "2", "--batch-size", "4", *args])


def tiny_config(training_text: Path, **overrides) -> TrainingConfig:
    settings = dict(model=TINY_GPT2, data=str(training_text), name="kept", block_size=32, batch_size=4, lr=2e-3)
    return TrainingConfig(**{**settings, "max_steps": 4, "eval_every": 2, **overrides})


# ---------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["..", ".", "../x", "/some/dir", "a" * 300, "runs/x", "x/", "-x", "a--b"])
def test_a_training_name_that_is_not_one_folder_is_refused_before_anything_is_touched(
    installed_store, training_text, tmp_path, capsys, name
):
    outputs = get_settings().outputs_dir
    (outputs / "x").mkdir(parents=True)
    (outputs / "x" / "mine.txt").write_text("keep", encoding="utf-8")
    (outputs / "runs" / "earlier").mkdir(parents=True)
    (outputs / "runs" / "earlier" / "run.json").write_text("{}", encoding="utf-8")
    elsewhere = tmp_path / "some-dir"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("keep", encoding="utf-8")

    assert train_cli(training_text, f"--name={name.replace('/some/dir', str(elsewhere))}") == 2
    assert "cannot name a model" in capsys.readouterr().err
    assert (outputs / "x" / "mine.txt").read_text(encoding="utf-8") == "keep"
    assert (outputs / "runs" / "earlier" / "run.json").is_file()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["notes.txt"]


def test_a_fresh_run_deletes_only_a_run_folder_creator_kit_made(installed_store, training_text):
    foreign = get_settings().outputs_dir / "runs" / "kept"
    foreign.mkdir(parents=True)
    (foreign / "photos.txt").write_text("mine", encoding="utf-8")  # no run.json: not a run of ours
    with pytest.raises(Exception, match="not made by Creator Kit"):
        train(tiny_config(training_text))
    assert (foreign / "photos.txt").read_text(encoding="utf-8") == "mine"


# ---------------------------------------------------------------------------------------------- overwrites


def test_training_into_an_existing_model_needs_overwrite_and_never_replaces_another_task(
    installed_store, training_text, capsys
):
    assert train_cli(training_text, "--name", "tuned") == 0
    first = installed_store.get("local/tuned").commit
    capsys.readouterr()
    assert train_cli(training_text, "--name", "tuned") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert installed_store.get("local/tuned").commit == first
    assert train_cli(training_text, "--name", "tuned", "--overwrite") == 0

    installed_store.register_local("painter", installed_store.get(TINY_SD).path, task="text-to-image")
    assert train_cli(training_text, "--name", "painter", "--overwrite") == 2
    assert "never replaces a model of another task" in capsys.readouterr().err
    assert installed_store.get("local/painter").task == "text-to-image"


def test_a_stopped_run_is_resumed_or_replaced_on_request_not_silently_restarted(installed_store, training_text):
    config = tiny_config(training_text, max_steps=2, name="stopped")
    train(config)
    installed_store.remove("local/stopped")  # as after Stop: checkpoints on disk, no model yet
    with pytest.raises(OutputExistsError, match=r"resume=True .* overwrite=True"):
        train(config)
    assert last_checkpoint(config) is not None  # the stopped run is still there
    assert train(TrainingConfig(**{**config.to_dict(), "overwrite": True})).steps == 2


def test_outputs_are_never_replaced_without_overwrite(installed_models_dir, tmp_path):
    picture = tmp_path / "fox.png"
    picture.write_bytes(b"my own picture")
    made = run_cli(
        "--models-dir", str(installed_models_dir), "generate", "image", "--model", TINY_SD, "--prompt", "a fox",
        "--steps", "2", "--out", str(picture),
    )  # fmt: skip
    assert_one_line_error(made, 2, "exists already", "--overwrite")
    assert picture.read_bytes() == b"my own picture"


def test_text_out_writes_exactly_the_path_given_and_its_manifest_beside_it(installed_store, tmp_path, capsys):
    notes = tmp_path / "notes.md"
    for neighbour in ("notes.txt", "notes.json"):
        (tmp_path / neighbour).write_text("mine", encoding="utf-8")
    args = ["generate", "text", "--model", TINY_GPT2, "--prompt", "Once", "--max-new-tokens", "3", "--seed", "1"]
    assert cli_main([*args, "--out", str(notes)]) == 0
    assert notes.is_file() and manifest.read(notes).model == TINY_GPT2
    assert json.loads(Path(f"{notes}.json").read_text(encoding="utf-8"))["kind"] == "text"
    assert all((tmp_path / n).read_text(encoding="utf-8") == "mine" for n in ("notes.txt", "notes.json"))
    assert cli_main([*args, "--out", str(notes)]) == 2 and "--overwrite" in capsys.readouterr().err
    assert cli_main([*args, "--out", str(notes), "--overwrite"]) == 0


# ---------------------------------------------------------------------------------------------- checkpoints


def test_resume_skips_a_checkpoint_cut_short_and_says_which_it_uses(installed_store, training_text):
    config = tiny_config(training_text, max_steps=2, eval_every=2)
    train(config)
    complete = last_checkpoint(config)
    assert complete is not None and complete.name == "checkpoint-2"
    torn = complete.with_name("checkpoint-4")  # what SIGKILL in the middle of saving leaves
    torn.mkdir()
    (torn / "optimizer.pt").write_bytes(b"")
    assert last_checkpoint(config) == complete

    logs = []
    longer = TrainingConfig(**{**config.to_dict(), "max_steps": 4, "overwrite": True})
    result = train(longer, resume=True, on_event=lambda e: logs.append(e.message) if isinstance(e, Log) else None)
    assert result.steps == 4
    assert any("checkpoint-4 was cut short" in line for line in logs) and "Resuming from checkpoint-2" in logs
    assert [p.name for p in complete.parent.glob("incomplete-checkpoint-4-*")]


# ---------------------------------------------------------------------------------------------- reproduce


@pytest.fixture
def saved_text(installed_store, tmp_path) -> Path:
    return text.generate("Once", model=TINY_GPT2, max_new_tokens=3, seed=2).save(out=tmp_path / "story.txt")


def rewrite_manifest(path: Path, **changes) -> None:
    sidecar = manifest.sidecar(path)
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    for key, value in changes.items():
        target = data["parameters"] if key in data["parameters"] else data
        target[key] = value
    sidecar.write_text(json.dumps(data), encoding="utf-8")


def test_a_manifest_from_another_device_runs_here_and_says_so(saved_text):
    rewrite_manifest(saved_text, device="cuda")
    reproduction = reproduce(saved_text)
    assert reproduction.matches
    assert any("made on cuda, run on cpu here" in note for note in reproduction.notes)


def test_a_revision_other_than_the_installed_one_is_named(saved_text):
    rewrite_manifest(saved_text, revision="0" * 40)
    assert any("the manifest names 000000000000" in note for note in reproduce(saved_text).notes)


def test_reproduce_answers_files_it_cannot_read_with_one_line(installed_store, saved_text, tmp_path, capsys):
    truncated = tmp_path / "cut.png"
    Image.new("RGB", (32, 32), "red").save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:40])
    not_utf8 = tmp_path / "latin.txt"
    not_utf8.write_text("x", encoding="utf-8")
    Path(f"{not_utf8}.json").write_bytes(b'{"kind": "text", "model": "caf\xe9"}')
    missing_keys = tmp_path / "short.txt"
    shutil.copy(saved_text, missing_keys)
    data = json.loads(manifest.sidecar(saved_text).read_text(encoding="utf-8"))
    del data["parameters"]["temperature"]
    Path(f"{missing_keys}.json").write_text(json.dumps(data), encoding="utf-8")
    wrong_kind = tmp_path / "story.png"
    Image.new("RGB", (8, 8)).save(wrong_kind)
    Path(f"{wrong_kind}.json").write_text(manifest.sidecar(saved_text).read_text(encoding="utf-8"), encoding="utf-8")
    os.remove(wrong_kind)  # a PNG path whose manifest (beside it) is a text one

    for path, code in ((truncated, 2), (not_utf8, 2), (missing_keys, 2), (wrong_kind, 2), (tmp_path / "none", 3)):
        assert cli_main(["reproduce", str(path)]) == code, path
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


# ---------------------------------------------------------------------------------------------- OS errors


def test_an_output_folder_that_is_a_file_is_refused_before_any_work(installed_models_dir, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    made = run_cli(
        "--models-dir", str(installed_models_dir), "generate", "image", "--model", TINY_SD, "--prompt", "a fox",
        "--steps", "2", "--out", str(blocker / "fox.png"),
    )  # fmt: skip
    assert_one_line_error(made, 2, str(blocker))


def test_a_full_disk_under_out_is_exit_6(installed_store, small_disk, capsys):
    filler = small_disk / "filler.bin"
    with filler.open("wb") as f, pytest.raises(OSError):
        while True:
            f.write(b"\0" * 1024 * 1024)
    args = ["generate", "text", "--model", TINY_GPT2, "--prompt", "Once", "--max-new-tokens", "3"]
    assert cli_main([*args, "--out", str(small_disk / "story.txt")]) == 6
    assert "disk is full" in capsys.readouterr().err
    assert not [p for p in small_disk.iterdir() if p.name != "filler.bin"]  # nothing half-written left


def test_bad_environment_values_and_undecodable_arguments_are_exit_2(tmp_path):
    env = dict(os.environ, CREATOR_KIT_MEMORY_BUDGET="abc")
    budget = subprocess.run(
        [sys.executable, "-m", "creator_kit", "models", "list"], capture_output=True, text=True, env=env
    )
    assert_one_line_error(budget, 2, "CREATOR_KIT_MEMORY_BUDGET")
    undecodable = subprocess.run(
        [sys.executable, "-m", "creator_kit", "generate", "text", "--model", TINY_GPT2, "--prompt", b"\xff"],
        capture_output=True,
        text=True,
    )
    assert_one_line_error(undecodable, 2, "not valid UTF-8")


def test_ctrl_c_says_what_was_kept_for_the_command_that_was_running():
    parser = build_parser()
    assert "resume" in parser.parse_args(["models", "download", "a/b"]).interrupted
    assert "download" not in parser.parse_args(["generate", "text", "--model", "a/b", "--prompt", "x"]).interrupted
    assert "--resume" in parser.parse_args(["train", "text", "--model", "a/b", "--data", "x"]).interrupted
