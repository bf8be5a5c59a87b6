"""Notebooks run headless under papermill against the test hub, as a user's batch job would."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
from conftest import TINY_GPT2

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def execute(name: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    output = tmp_path / name
    papermill.execute_notebook(
        NOTEBOOKS / name, output, parameters=parameters, progress_bar=False, kernel_name="python3"
    )
    return nbformat.read(output, as_version=4)


def text_outputs(notebook: nbformat.NotebookNode) -> str:
    chunks = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            chunks.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(chunks)


def test_model_library_notebook_downloads_verifies_and_lists(hub, tmp_path):
    notebook = execute(
        "01_model_library.ipynb", tmp_path, repo_id=TINY_GPT2, hf_endpoint=hub.endpoint, models_dir=str(tmp_path / "m")
    )
    text = text_outputs(notebook)
    assert "distilbert/distilgpt2" in text  # the catalog table
    assert f"{TINY_GPT2} @ {hub.commits[TINY_GPT2][:12]}: downloaded" in text
    assert "files match their published checksums" in text
    assert (tmp_path / "m" / "models--tiny--gpt2" / "snapshots" / hub.commits[TINY_GPT2]).is_dir()


def test_committed_notebooks_carry_no_outputs_and_a_parameters_cell():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        code_cells = [c for c in notebook.cells if c.cell_type == "code"]
        assert "parameters" in code_cells[0].metadata.get("tags", []), path.name
        assert all(not c.outputs and c.execution_count is None for c in code_cells), f"{path.name} has outputs"


def test_image_notebook_renders_sweeps_and_reproduces(installed_models_dir, tmp_path):
    from conftest import TINY_SD

    notebook = execute(
        "03_image_generation.ipynb",
        tmp_path,
        model=TINY_SD,
        steps=3,
        models_dir=str(installed_models_dir),
        outputs_dir=str(tmp_path / "outputs"),
    )
    text = text_outputs(notebook)
    assert "reproduced pixel for pixel: True" in text
    pngs = sorted(p.name for p in (tmp_path / "outputs").glob("*.png"))
    assert len(pngs) == 2  # the image and the contact sheet
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3  # the image, the strip of sampling previews, the contact sheet


def test_text_notebook_generates_streams_replays_and_compares(installed_store, tmp_path, monkeypatch):
    monkeypatch.setenv("CREATOR_KIT_MODELS_DIR", str(installed_store.models_dir))
    monkeypatch.setenv("CREATOR_KIT_OUTPUTS_DIR", str(tmp_path / "outputs"))
    notebook = execute("02_text_generation.ipynb", tmp_path, max_new_tokens=8, seed=3)
    text = text_outputs(notebook)
    assert f"Using: {TINY_GPT2}" in text and "tokens/s" in text
    assert f"{TINY_GPT2} (int8)" in text  # one installed text model: compared with its int8 version
    assert len(list((tmp_path / "outputs").glob("*.txt"))) == 1
