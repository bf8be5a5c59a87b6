"""The notebooks as documented batch jobs: the README's commands from the repository root, typed parameters that
`papermill --help-notebook` lists, bad values stopped before any model loads, and offline runs on starter models."""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest
from conftest import TINY_GPT2
from test_notebooks import CHECKED, NBVAL, NOTEBOOKS

from creator_kit.library.store import ModelStore

REPO = NOTEBOOKS.parent
PAPERMILL = [sys.executable, "-m", "papermill"]

#: Small values appended to the README's commands (papermill's last -p of a name wins).
SMALL = {
    "00_quickstart.ipynb": ["-p", "train_steps", "4", "-p", "image_steps", "2", "-p", "video_seconds", "1"],
    "03_image_generation.ipynb": ["-p", "steps", "3"],
    "05_training.ipynb": ["-p", "epochs", "1", "-p", "eval_every", "5"],
}

#: For each notebook, a parameter given a bad value and the error its check cell raises.
BAD = {
    "00_quickstart.ipynb": ("image_steps", "four", "image_steps must be a whole number from 1 to 200, not 'four'."),
    "01_model_library.ipynb": ("repo_id", "not a model", "'not a model' is not a valid model id."),
    "02_text_generation.ipynb": ("max_new_tokens", "many", "max_new_tokens must be a whole number from 1 to 4096"),
    "03_image_generation.ipynb": ("steps", "four", "steps must be a whole number from 1 to 200, not 'four'."),
    "04_video_generation.ipynb": ("duration", "long", "duration must be a number > 0 and <= 120 seconds, not 'long'."),
    "05_training.ipynb": ("epochs", "three", "epochs must be a whole number >= 1, not 'three'."),
    "06_compare.ipynb": ("steps", "two", "steps must be a whole number from 1 to 200, not 'two'."),
}


def readme_commands() -> dict[str, list[str]]:
    """The papermill command lines of the README's "Notebooks as batch jobs", by notebook, split as a shell would."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Notebooks as batch jobs", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line) for line in block.splitlines() if line.startswith("papermill ")]
    return {Path(command[1]).name: command for command in commands}


def typed_parameters(path: Path) -> dict[str, str]:
    """Each name in a notebook's parameters cell and its annotation; a name without one is an error."""
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    tree = ast.parse(cell.source)
    plain = [node for node in tree.body if isinstance(node, ast.Assign)]
    assert not plain, f"{path.name}: parameters without a type: {[ast.unparse(node) for node in plain]}"
    return {node.target.id: ast.literal_eval(node.annotation) if isinstance(node.annotation, ast.Constant)
            else ast.unparse(node.annotation) for node in tree.body if isinstance(node, ast.AnnAssign)}  # fmt: skip


def check_output(path: Path) -> str:
    """What the check cell of the notebook at `path` printed."""
    cells = nbformat.read(path, as_version=4).cells
    return next(cell for cell in cells if CHECKED in cell.metadata.get("tags", [])).outputs[0]["text"]


def test_the_readme_lists_a_command_for_each_batch_job():
    assert sorted(readme_commands()) == sorted(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_readme_batch_command_runs_from_the_repository_root(name, installed_store, hub, training_text, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "my_stories.txt").write_text(training_text.read_text(encoding="utf-8"), encoding="utf-8")
    if name == "00_quickstart.ipynb":  # the README's quickstart runs on the model notebook 05 fine-tunes
        installed_store.register_local("stories", Path(installed_store.get(TINY_GPT2).path), task="text-generation")
    command = readme_commands()[name]
    executed = tmp_path / command[2]
    arguments = [str(home) + argument[1:] if argument.startswith("~/") else argument for argument in command[3:]]
    arguments = [TINY_GPT2 if argument == "distilbert/distilgpt2" else argument for argument in arguments]
    environment = {
        **os.environ,
        "HOME": str(home),  # where the shell finds ~/my_stories.txt
        "HF_ENDPOINT": hub.endpoint,
        "CREATOR_KIT_MODELS_DIR": str(installed_store.models_dir),
        "CREATOR_KIT_OUTPUTS_DIR": str(tmp_path / "outputs"),
        "OMP_NUM_THREADS": "1",
    }
    run = subprocess.run(
        [*PAPERMILL, command[1], str(executed), *arguments, *SMALL[name]],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 0, run.stderr[-4000:]
    assert check_output(executed) == check_output(NOTEBOOKS / name)  # the results were checked, as nbval does
    assert any((tmp_path / "outputs").iterdir())


@pytest.mark.parametrize("name", sorted(BAD))
def test_help_notebook_lists_every_parameter_with_its_type_and_help(name):
    path = NOTEBOOKS / name
    run = subprocess.run([*PAPERMILL, "--help-notebook", str(path)], capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stderr
    for parameter, annotation in typed_parameters(path).items():
        assert f"  {parameter}: {annotation} (default " in run.stdout, parameter
    assert all(spec["help"] for spec in papermill.inspect_notebook(path).values())


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_parameter_stops_the_notebook_in_its_check_cell_before_any_model_loads(name, tmp_path, monkeypatch):
    models = tmp_path / "models"  # empty: had the check let the value through, the notebook would build starters
    monkeypatch.setenv("CREATOR_KIT_MODELS_DIR", str(models))
    monkeypatch.setenv("CREATOR_KIT_OFFLINE", "1")
    parameter, value, message = BAD[name]
    started = time.monotonic()
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(
            NOTEBOOKS / name, tmp_path / name, parameters={parameter: value}, cwd=str(REPO), kernel_name="python3",
            progress_bar=False,
        )  # fmt: skip

    assert failure.value.ename.startswith("Invalid") and message in failure.value.evalue
    assert time.monotonic() - started < 60
    cells = [c for c in nbformat.read(tmp_path / name, as_version=4).cells if c.cell_type == "code"]
    ran = [c for c in cells if c.execution_count is not None]
    assert [c.metadata.get("tags", []) for c in ran[:2]] == [["parameters"], ["injected-parameters"]]
    assert len(ran) == 3 and ran[2].source.startswith("# Every parameter is checked before anything loads")
    assert not models.exists()  # no model was chosen, built or loaded


def test_every_notebook_runs_offline_on_starter_models_from_an_empty_store(tmp_path):
    models = tmp_path / "models"
    environment = {
        **os.environ,
        "CREATOR_KIT_MODELS_DIR": str(models),
        "CREATOR_KIT_OUTPUTS_DIR": str(tmp_path / "outputs"),
        "CREATOR_KIT_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",  # the kernels inherit it: torch's thread pool contends on 2 cores
    }
    run = subprocess.run([*NBVAL, "notebooks/"], cwd=REPO, env=environment, capture_output=True, text=True, timeout=900)

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
    statuses = {m.repo_id: m.status for m in ModelStore(models).installed()}
    assert {repo_id for repo_id, status in statuses.items() if status == "starter"} == {
        "local/starter-text", "local/starter-image", "local/starter-video", "local/starter-tiny-autoencoder",
    }  # fmt: skip
    assert set(statuses.values()) == {"starter", "custom"}  # nothing downloaded: the fine-tunes are custom
