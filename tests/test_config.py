"""One store and one outputs folder from any folder: the explicit setting, else the project's, else the user's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from conftest import TINY_GPT2

from creator_kit.core.config import PROJECT_MARKER, configure, get_settings, locate, project_dir, reset_settings
from creator_kit.core.errors import NotFoundError

FOLDER_VARIABLES = ("CREATOR_KIT_MODELS_DIR", "CREATOR_KIT_OUTPUTS_DIR")


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A Creator Kit project with a notebooks/ folder; no folder set by the environment; HOME under tmp_path."""
    root = tmp_path / "project"
    (root / "notebooks" / "data").mkdir(parents=True)
    (root / PROJECT_MARKER).write_text("a Creator Kit project\n")
    for variable in FOLDER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return root


def test_the_project_of_the_current_folder_holds_the_models_and_outputs_from_any_folder_of_it(project, monkeypatch):
    for folder in (project, project / "notebooks", project / "notebooks" / "data"):
        monkeypatch.chdir(folder)
        reset_settings()
        assert project_dir() == project
        assert (get_settings().models_dir, get_settings().outputs_dir) == (project / "models", project / "outputs")


def test_an_explicit_setting_wins_and_outside_any_project_the_user_folder_serves(project, tmp_path, monkeypatch):
    monkeypatch.chdir(project / "notebooks")
    monkeypatch.setenv("CREATOR_KIT_MODELS_DIR", "shared-models")  # relative: to the current folder
    reset_settings()
    assert get_settings().models_dir == project / "notebooks" / "shared-models"
    assert get_settings().outputs_dir == project / "outputs"  # each folder by itself
    assert configure(models_dir=tmp_path / "explicit").models_dir == tmp_path / "explicit"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("CREATOR_KIT_MODELS_DIR")
    reset_settings()
    assert project_dir() is None
    home = tmp_path / "home" / "creator-kit"
    assert (get_settings().models_dir, get_settings().outputs_dir) == (home / "models", home / "outputs")


def test_locate_reads_a_relative_path_from_the_current_folder_else_from_the_project(project, monkeypatch):
    stories = project / "notebooks" / "data" / "stories.txt"
    stories.write_text("Once upon a time.\n")
    monkeypatch.chdir(project / "notebooks")
    assert locate("data/stories.txt") == stories  # from here
    assert locate("notebooks/data/stories.txt") == stories  # from the project's root
    assert locate(stories) == stories
    monkeypatch.chdir(project)
    assert locate("notebooks/data/stories.txt") == stories
    with pytest.raises(NotFoundError, match=r"no file or folder .*data/stories\.txt"):
        locate("data/stories.txt")  # neither from here nor from the root


def test_a_kernel_in_a_sub_folder_sees_the_model_the_cli_downloaded_and_the_cli_there_writes_the_project_outputs(
    project, hub, training_text, tmp_path, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel and the CLI inherit it: torch contends on 2 cores
    cli = [sys.executable, "-m", "creator_kit"]
    downloaded = subprocess.run([*cli, "models", "download", TINY_GPT2], cwd=project, capture_output=True, text=True)
    assert downloaded.returncode == 0, downloaded.stderr
    assert (project / "models" / "models--tiny--gpt2").is_dir()

    probe = nbformat.v4.new_notebook()
    probe.cells = [
        nbformat.v4.new_code_cell(
            "import creator_kit as ck\n"
            "settings = ck.get_settings()\n"
            "print(settings.models_dir, settings.outputs_dir, [m.repo_id for m in ck.ModelStore().installed()])"
        )
    ]
    nbformat.write(probe, tmp_path / "probe.ipynb")
    papermill.execute_notebook(
        tmp_path / "probe.ipynb",
        tmp_path / "probed.ipynb",
        cwd=project / "notebooks",
        kernel_name="python3",
        progress_bar=False,
    )
    (printed,) = nbformat.read(tmp_path / "probed.ipynb", as_version=4).cells[0].outputs
    assert printed["text"].split(" ", 2) == [str(project / "models"), str(project / "outputs"), f"['{TINY_GPT2}']\n"]

    command = [*cli, "train", "text", "--model", TINY_GPT2, "--data", str(training_text), "--name", "from-a-sub-folder"]
    trained = subprocess.run(
        [*command, "--max-steps", "2", "--eval-every", "2"],
        cwd=project / "notebooks",
        capture_output=True,
        text=True,
        env={**os.environ, "CREATOR_KIT_OFFLINE": "1"},
    )
    assert trained.returncode == 0, trained.stderr
    assert (project / "outputs" / "runs" / "from-a-sub-folder").is_dir()
    assert (project / "models" / "models--local--from-a-sub-folder").is_dir()
    assert not (project / "notebooks" / "models").exists() and not (project / "notebooks" / "outputs").exists()
