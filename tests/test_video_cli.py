"""`creator-kit generate video` and `creator-kit reproduce` on an MP4, as a user runs them."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_GPT2, TINY_SD, TINY_T2V
from test_cli import assert_one_line_error, run_cli
from test_video import probe

SMALL = ("--width", "64", "--height", "48", "--fps", "6", "--duration", "1", "--quality", "draft", "--seed", "2")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    """The CLI's torch on one thread: two contend on the shared two-core machines (several times slower)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def video(models_dir, out, *extra: str):
    return run_cli("--models-dir", str(models_dir), "generate", "video", "--out", str(out), *SMALL, *extra)


def test_storyboard_file_makes_an_mp4_that_reproduce_confirms(installed_models_dir, tmp_path):
    board = tmp_path / "board.json"
    scenes = [
        {"prompt": "a boat at dawn", "seconds": 0.5, "caption": "Dawn"},
        {"prompt": "a storm at noon", "seconds": 0.5},
    ]
    board.write_text(json.dumps({"idea": "a day at sea", "scenes": scenes}))
    result = video(installed_models_dir, tmp_path / "sea.mp4", "--model", TINY_SD, "--storyboard", str(board), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["path"] == str(tmp_path / "sea.mp4") and report["frames"] == 6
    parameters = report["manifest"]["parameters"]
    assert parameters["scenes"] == ["a boat at dawn", "a storm at noon"] and parameters["scene_seconds"] == [0.5, 0.5]
    assert probe(tmp_path / "sea.mp4")["frames"] == 6 and (tmp_path / "sea.mp4.json").is_file()

    reproduced = run_cli("--models-dir", str(installed_models_dir), "reproduce", str(tmp_path / "sea.mp4"))
    assert reproduced.returncode == 0, reproduced.stderr
    assert "video from tiny/sd" in reproduced.stdout and "reproduced exactly" in reproduced.stdout


def test_native_model_and_text_model_paths(installed_models_dir, tmp_path):
    native = video(installed_models_dir, tmp_path / "n.mp4", "--model", TINY_T2V, "--prompt", "a fox", "--width", "32")
    assert native.returncode == 0, native.stderr
    assert native.stdout.strip() == str(tmp_path / "n.mp4") and probe(tmp_path / "n.mp4")["size"] == (32, 48)

    scripted = video(
        installed_models_dir, tmp_path / "s.mp4", "--model", TINY_SD, "--prompt", "a fox", "--text-model", TINY_GPT2,
        "--scenes", "2", "--captions",
    )  # fmt: skip
    assert scripted.returncode == 0, scripted.stderr
    assert json.loads((tmp_path / "s.mp4.json").read_text())["parameters"]["text_model"] == TINY_GPT2


def test_video_errors_are_one_line(installed_models_dir, tmp_path):
    out = tmp_path / "x.mp4"
    assert_one_line_error(
        video(installed_models_dir, out, "--model", TINY_SD, "--prompt", "x", "--width", "33"), 2, "8"
    )
    assert_one_line_error(video(installed_models_dir, out, "--model", TINY_GPT2, "--prompt", "x"), 2, "text-generation")
    bad = tmp_path / "bad.json"
    bad.write_text('{"shots": []}')
    assert_one_line_error(video(installed_models_dir, out, "--model", TINY_SD, "--storyboard", str(bad)), 2, "scenes")
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert_one_line_error(video(installed_models_dir, out, "--model", TINY_SD, "--storyboard", str(empty)), 2, "zero")
    assert not out.exists()
