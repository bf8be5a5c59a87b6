"""The notebooks as documented batch jobs: the README's commands as written (in a copy of the project), typed
parameters that `papermill --help-notebook` lists, bad values stopped before any model loads in one line, and
offline runs on starter models."""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest
from test_notebooks import CHECKED, NBVAL, NOTEBOOKS, REPO

from creator_kit.core.config import PROJECT_MARKER
from creator_kit.library.store import ModelStore

PAPERMILL = [sys.executable, "-m", "papermill"]
#: What papermill prints for a bad parameter, at most, not counting its progress bar: its own traceback (its command
#: catches nothing; 26 lines with papermill 2.7), then the kernel's error, the error's one line, which
#: CreatorKitError._render_traceback_ gives IPython in place of the traceback.
BAD_PARAMETER_LINES = 36

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


def readme_commands() -> list[list[str]]:
    """The command lines of the README's "Notebooks as batch jobs", in order, split as a shell would."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Notebooks as batch jobs", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def notebook_of(command: list[str]) -> str:
    """The name of the notebook a papermill command line runs ("" for another command)."""
    return Path(command[1]).name if command[0].endswith("papermill") else ""


def project_copy(tmp_path: Path) -> Path:
    """A copy of the project, as a fresh clone after `make demo` has it (its notebooks, its marker and .venv),
    where the README's commands run so that nothing they write lands in the repository."""
    project = tmp_path / "project"
    shutil.copytree(NOTEBOOKS, project / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (project / PROJECT_MARKER).write_text("")
    (project / ".venv").symlink_to(sys.prefix)  # the environment these tests run in, as `make` builds it
    return project


def run_as_written(
    command: list[str], project: Path, environment: dict[str, str], *more: str
) -> subprocess.CompletedProcess:
    """Run one README command line in `project`, with SMALL's values appended to a papermill one, then `more`."""
    line = [*command, *SMALL.get(notebook_of(command), []), *more]
    return subprocess.run(line, cwd=project, env=environment, capture_output=True, text=True, timeout=600)


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
    commands = readme_commands()
    assert sorted(filter(None, map(notebook_of, commands))) == sorted(SMALL)
    papermill = [command for command in commands if notebook_of(command)]
    assert all(command[0] == ".venv/bin/papermill" for command in papermill)  # what a fresh clone has
    assert all(Path(command[2]).parent == Path("outputs/notebooks") for command in papermill)


def test_the_readme_batch_commands_run_as_written_again_and_again(installed_store, hub, tmp_path):
    """The README's block, line after line, in a copy of the project on the tiny models; then its 05 line again,
    which replaces the model the first run made."""
    project = project_copy(tmp_path)
    environment = {key: value for key, value in os.environ.items() if key != "CREATOR_KIT_OUTPUTS_DIR"}
    environment.update(
        HF_ENDPOINT=hub.endpoint, CREATOR_KIT_MODELS_DIR=str(installed_store.models_dir), OMP_NUM_THREADS="1"
    )  # the outputs: the project's own outputs/, as from a clone
    commands = readme_commands()
    training = next(command for command in commands if notebook_of(command) == "05_training.ipynb")
    for command in [*commands, training]:
        run = run_as_written(command, project, environment)
        assert run.returncode == 0, f"{shlex.join(command)}:\n{run.stderr[-4000:]}"

    for command in filter(notebook_of, commands):
        executed = project / command[2]
        assert check_output(executed) == check_output(NOTEBOOKS / notebook_of(command))  # checked, as nbval does
    assert ModelStore(installed_store.models_dir).get("local/stories").status == "custom"
    assert any((project / "outputs").glob("image-*.png")) and (project / "outputs" / "runs" / "stories").is_dir()


def test_a_bad_parameter_ends_papermill_with_its_one_line_and_no_kernel_traceback(tmp_path):
    """The README's example of a bad value: what papermill prints is its own traceback, then the error's one line."""
    project = project_copy(tmp_path)
    (project / "outputs" / "notebooks").mkdir(parents=True)
    command = next(command for command in readme_commands() if notebook_of(command) == "03_image_generation.ipynb")
    environment = {**os.environ, "CREATOR_KIT_MODELS_DIR": str(tmp_path / "models"), "CREATOR_KIT_OFFLINE": "1"}
    run = run_as_written(command, project, environment, "-p", "steps", "four")

    lines = [line for line in run.stderr.strip().split("\n") if not line.startswith("Executing:")]  # not the bar
    assert run.returncode == 1
    assert lines[-1] == "InvalidInputError: steps must be a whole number from 1 to 200, not 'four'."
    assert f"`-p steps four`: `{lines[-1]}`" in (REPO / "README.md").read_text(encoding="utf-8")
    assert run.stderr.split('Exception encountered at "In [3]":\n', 1)[1].strip() == lines[-1]  # all the kernel said
    assert run.stderr.count("Traceback (most recent call last)") == 1  # papermill's own; the kernel's is gone
    assert len(lines) <= BAD_PARAMETER_LINES, run.stderr  # 58 lines with two tracebacks, before


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
