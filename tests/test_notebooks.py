"""Notebooks run headless under papermill against the test hub, as a user's batch job would, and pass nbval."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from conftest import TINY_GPT2, TINY_SD, TINY_T2V, Hub
from ipykernel.ipkernel import IPythonKernel
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
REPO = NOTEBOOKS.parent
CHECKED = "nbval-check-output"  # the tag of the cells whose committed output nbval compares
WIDGET = "application/vnd.jupyter.widget-view+json"
NBVAL = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-cell-timeout=300", "-p", "no:cacheprovider", "-q"]


def small_parameters(name: str, hub: Hub, models: Path, outputs: Path) -> dict:
    """Parameters that run notebook `name` in seconds on the tiny models (`models` holds them, or gets them)."""
    common = {"models_dir": str(models), "outputs_dir": str(outputs), "hf_endpoint": hub.endpoint}
    return {
        "00_quickstart.ipynb": {
            **common, "image_steps": 3, "video_seconds": 1.0, "train_steps": 6, "seed": 3,
            "train_data": str(NOTEBOOKS / "data" / "sample_stories.txt"),
        },
        "01_model_library.ipynb": {"repo_id": TINY_GPT2, "hf_endpoint": hub.endpoint, "models_dir": str(models)},
        "02_text_generation.ipynb": {"max_new_tokens": 8, "seed": 3},
        "03_image_generation.ipynb": {**common, "model": TINY_SD, "steps": 3},
        "04_video_generation.ipynb": {
            **common, "image_model": TINY_SD, "video_model": TINY_T2V, "duration": 1.0, "fps": 4, "width": 64,
            "height": 48, "steps": 2, "native_size": 32,
        },
        "05_training.ipynb": {
            **common, "base_model": TINY_GPT2, "epochs": 2, "eval_every": 5, "lr": 2e-3,
            "data_path": str(NOTEBOOKS / "data" / "sample_stories.txt"),
        },
        "06_compare.ipynb": {**common, "max_new_tokens": 6, "steps": 1},
    }[name]  # fmt: skip


def execute(name: str, hub: Hub, models: Path, tmp_path: Path) -> nbformat.NotebookNode:
    """Run notebook `name` under papermill with its small parameters; its outputs go to tmp_path / "outputs"."""
    output = tmp_path / name
    parameters = small_parameters(name, hub, models, tmp_path / "outputs")
    papermill.execute_notebook(
        NOTEBOOKS / name, output, parameters=parameters, progress_bar=False, kernel_name="python3", cwd=str(NOTEBOOKS)
    )
    return nbformat.read(output, as_version=4)


def text_outputs(notebook: nbformat.NotebookNode) -> str:
    chunks = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            chunks.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(chunks)


def test_every_notebook_passes_nbval_twice_in_a_row_on_one_store(installed_store, hub, tmp_path):
    """nbval runs each notebook (parameters injected by papermill) and compares the tagged check cells' output, then
    runs them all again on the same models and outputs: a notebook is a document people run again and again."""
    names = sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))
    runs = [tmp_path / "notebooks" / run for run in ("first", "second")]
    for copies in runs:
        shutil.copytree(NOTEBOOKS / "data", copies / "data")
        for name in names:
            models = tmp_path / "fresh-models" if name == "01_model_library.ipynb" else installed_store.models_dir
            parameters = small_parameters(name, hub, models, tmp_path / "outputs")
            notebook = parameterize_notebook(load_notebook_node(str(NOTEBOOKS / name)), parameters)
            nbformat.write(notebook, copies / name)
    environment = {
        **os.environ,
        "CREATOR_KIT_MODELS_DIR": str(installed_store.models_dir),
        "CREATOR_KIT_OUTPUTS_DIR": str(tmp_path / "outputs"),
        "OMP_NUM_THREADS": "1",  # the kernels inherit it: torch's thread pool contends on 2 cores
    }
    paths = [str(copies / name) for copies in runs for name in names]  # one pytest: the second round follows
    command = [*NBVAL, "--rootdir", str(runs[0].parent), *paths]
    run = subprocess.run(command, cwd=runs[0].parent, env=environment, capture_output=True, text=True, timeout=2400)

    cells = sum(cell.cell_type == "code" for path in paths for cell in nbformat.read(path, as_version=4).cells)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert f"{cells} passed" in run.stdout and "failed" not in run.stdout  # every cell of both rounds


def test_nbval_catches_a_check_cell_whose_output_changed(tmp_path):
    """The committed output of a check cell is what nbval compares: a different output fails the run."""
    notebook = nbformat.read(NOTEBOOKS / "00_quickstart.ipynb", as_version=4)
    check = next(cell for cell in notebook.cells if CHECKED in cell.metadata.get("tags", []))
    check.source = 'print("something else")'
    notebook.cells = [check]
    nbformat.write(notebook, tmp_path / "changed.ipynb")
    command = [*NBVAL, "--rootdir", str(tmp_path), str(tmp_path / "changed.ipynb")]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    assert run.returncode == 1 and "1 failed" in run.stdout


def test_model_library_notebook_downloads_verifies_and_lists(hub, tmp_path):
    notebook = execute("01_model_library.ipynb", hub, tmp_path / "m", tmp_path)
    text = text_outputs(notebook)
    assert "distilbert/distilgpt2" in text  # the catalog table
    assert f"{TINY_GPT2} @ {hub.commits[TINY_GPT2][:12]}: downloaded" in text
    assert "files match their published checksums" in text
    assert (tmp_path / "m" / "models--tiny--gpt2" / "snapshots" / hub.commits[TINY_GPT2]).is_dir()


def test_committed_notebooks_carry_a_parameters_cell_a_check_cell_and_no_other_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        code_cells = [c for c in notebook.cells if c.cell_type == "code"]
        assert "parameters" in code_cells[0].metadata.get("tags", []), path.name
        checks = [c for c in code_cells if CHECKED in c.metadata.get("tags", [])]
        assert len(checks) == 1 and checks[0].outputs and checks[0].execution_count, f"{path.name}: no check cell"
        others = [c for c in code_cells if c not in checks]
        assert all(not c.outputs and c.execution_count is None for c in others), f"{path.name} has outputs"


def test_image_notebook_renders_sweeps_and_reproduces(installed_models_dir, hub, tmp_path):
    notebook = execute("03_image_generation.ipynb", hub, installed_models_dir, tmp_path)
    text = text_outputs(notebook)
    assert "image from tiny/sd" in text and ": reproduced exactly" in text  # ck.reproduce of the PNG
    pngs = sorted(p.name for p in (tmp_path / "outputs").glob("*.png"))
    assert len(pngs) == 2  # the image and the contact sheet
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3  # the image, the strip of sampling previews, the contact sheet


def test_text_notebook_generates_streams_replays_and_compares(installed_store, hub, tmp_path, monkeypatch):
    monkeypatch.setenv("CREATOR_KIT_MODELS_DIR", str(installed_store.models_dir))
    monkeypatch.setenv("CREATOR_KIT_OUTPUTS_DIR", str(tmp_path / "outputs"))
    notebook = execute("02_text_generation.ipynb", hub, installed_store.models_dir, tmp_path)
    text = text_outputs(notebook)
    assert f"Using: {TINY_GPT2}" in text and "tokens/s" in text
    assert f"{TINY_GPT2} (int8)" in text  # one installed text model: compared with its int8 version
    assert len(list((tmp_path / "outputs").glob("*.txt"))) == 1


def test_committed_notebooks_open_unchanged_in_jupyterlab():
    """JupyterLab marks a notebook unsaved as soon as anything in it changes on open: the kernel's name and language
    info (written from the kernel when it starts), missing cell ids, an older format. The committed files carry what
    the installed python3 kernel reports, and are exactly what nbformat (JupyterLab's server) would write back."""
    spec = KernelSpecManager().get_kernel_spec("python3")
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert (notebook.nbformat, notebook.nbformat_minor) == (4, nbformat.current_nbformat_minor)
        assert all(cell.get("id") for cell in notebook.cells), path.name
        kernelspec = {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
        assert notebook.metadata.kernelspec == kernelspec, path.name
        info = {**IPythonKernel.language_info, "version": notebook.metadata.language_info.get("version")}
        assert notebook.metadata.language_info == info, path.name  # the version: that of the Python it was saved with
        assert path.read_text(encoding="utf-8") == nbformat.writes(notebook) + "\n", f"{path.name} is not normalised"


def test_the_parameter_checks_print_nothing_when_the_values_are_good(tmp_path):
    """Each notebook's parameters cell and the check after it, run in one kernel: the checks show nothing at all
    (no `False`, no `GenerationParams(...)` under the cell)."""
    checked = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        code = [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
        assert code[1].source.startswith("# Every parameter is checked before anything loads"), path.name
        checked += code[:2]
    notebook = nbformat.v4.new_notebook(cells=checked)
    environment = {"CREATOR_KIT_MODELS_DIR": str(tmp_path / "models"), "CREATOR_KIT_OFFLINE": "1"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        where = {"metadata": {"path": str(REPO)}}  # the kernel's folder: relative data paths resolve from the root
        NotebookClient(notebook, timeout=120, kernel_name="python3", resources=where).execute()

    assert {cell.source.splitlines()[0]: cell.outputs for cell in notebook.cells if cell.outputs} == {}
    assert not (tmp_path / "models").exists()
